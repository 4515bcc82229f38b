import { CaptureJournal } from '../../src/ledger/capture-journal.js';

/**
 * One process of the capture journal's rules test for a write cut short: started under a file size limit
 * (`ulimit -f`), so the system writes only the part of a line below the limit, as a full disk would (Node
 * ignores SIGXFSZ). It appends usage lines of `lineBytes` until one fails, then one short capture line, and
 * prints what happened as one JSON line: the request ids whose appends returned, and the failed append's error.
 * Under mutation testing the parent passes its active mutant on (`__STRYKER_ACTIVE_MUTANT__`), so the journal
 * here runs the mutant the test judges.
 *
 * Arguments: directory, instance id, line length in bytes.
 */
const [directory, instance, lineBytesText] = process.argv.slice(2);
const lineBytes = Number(lineBytesText);
const journal = new CaptureJournal(directory!, instance!, { sync: 'write' });
const appended: string[] = [];
let failed: { requestId: string; message: string } | undefined;
const overhead = Buffer.byteLength(`${JSON.stringify({ type: 'usage', row: { request_id: 'line-00', pad: '' } })}\n`);
for (let n = 1; n <= 100 && !failed; n += 1) {
  const requestId = `line-${String(n).padStart(2, '0')}`;
  try {
    journal.append({ type: 'usage', row: { request_id: requestId, pad: 'x'.repeat(lineBytes - overhead) } });
    appended.push(requestId);
  } catch (error) {
    failed = { requestId, message: (error as Error).message };
  }
}
try {
  journal.append({ type: 'capture', requestId: 'after', amount: '0.01' });
  appended.push('after');
} catch (error) {
  failed = { requestId: 'after', message: (error as Error).message };
}
process.stdout.write(`${JSON.stringify({ appended, failed })}\n`);
