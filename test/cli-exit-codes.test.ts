import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildProgram, runCli } from '../src/cli/program.js';
import { SOURCES } from '../src/cli/sync-command.js';
import { readableLine } from '../src/cli/terminal-log.js';
import { SYNC_SOURCES } from '../src/sync/run-sync.js';

/**
 * One exit-code rule for every command (README, "Exit codes"): 0 done, 1 refused or not found, 2 usage
 * error. Each case runs the whole `tollgate` program in process, as the executable does, on a PGlite data
 * directory of its own.
 */
describe('tollgate exit codes', () => {
  const dataDirectory = mkdtempSync(path.join(tmpdir(), 'tollgate-exit-codes-'));
  const run = async (...args: string[]) => {
    let stdout = '';
    let stderr = '';
    const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
    const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
    try {
      const code = await runCli(['node', 'tollgate', '--data-dir', dataDirectory, ...args], buildProgram());
      return { code, stdout, stderr };
    } finally {
      out.mockRestore();
      err.mockRestore();
      process.exitCode = undefined;
    }
  };

  beforeAll(async () => {
    const created = await run('accounts', 'create', '--name', 'acme', '--mode', 'consumption_usd', '--credits', '5');
    expect(created.code).toBe(0);
  }, 60_000);
  afterAll(() => rmSync(dataDirectory, { recursive: true, force: true }));

  it.each([
    [0, ['--help']],
    [0, ['accounts', 'grant', '--help']],
    [0, ['ledger', 'verify']],
    [0, ['accounts', 'statement', 'acme']],
    [0, ['usage', '--by', 'model,day']],
    [0, ['cost', 'gpt-4o-mini', '--input', '10', '--output', '5']],
  ])('exit %i: done (%j)', async (code, args) => {
    expect((await run(...args)).code).toBe(code);
  });

  it.each([
    ['an account that does not exist', ['accounts', 'grant', 'nosuch', '--credits', '1']],
    [
      'an account that does not exist, as a filter',
      ['cost', 'gpt-4o-mini', '--input', '1', '--output', '1', '--account', 'nosuch'],
    ],
    ['a model with no price anywhere', ['cost', 'nosuchmodel-xyz', '--input', '1', '--output', '1']],
    ['a statement of no such account', ['accounts', 'statement', 'nosuch']],
    ['usage of no such account', ['usage', '--account', 'nosuch']],
    ['no such key to revoke', ['keys', 'revoke', 'nosuchprefix']],
    ['no price for the model', ['catalog', 'price', 'nosuch/model']],
    ['a month not over yet', ['usage', 'drop', '2999-01']],
    ['the ledger refuses an overdraw', ['accounts', 'adjust', 'acme', '--credits', '-1000']],
  ])('exit 1: refused or not found: %s', async (_case, args) => {
    const result = await run(...args);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^(error|warning): /m);
  });

  it.each([
    ['an unknown option', ['--bogus']],
    ['an unknown command', ['nosuchcommand']],
    ['a group without its command', ['accounts']],
    ['a missing argument', ['accounts', 'grant']],
    ['a missing required option', ['accounts', 'grant', 'acme']],
    ['a malformed amount', ['accounts', 'grant', 'acme', '--credits', 'ten']],
    ['a malformed token count', ['cost', 'gpt-4o-mini', '--input', 'x', '--output', '1']],
    ['an unknown grouping', ['usage', '--by', 'week']],
    ['a malformed time', ['usage', '--from', 'yesterday']],
    ['a malformed month', ['accounts', 'statement', 'acme', '--month', '2026-13']],
    ['two output formats', ['usage', '--csv', '--json']],
    ['a malformed month to drop', ['usage', 'drop', '2026-1']],
    ['an unknown sync source', ['catalog', 'sync', '--source', 'nosuch']],
  ])('exit 2: usage error: %s', async (_case, args) => {
    const result = await run(...args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/error|Usage:/);
  });

  it('a statement of a month with no charges says charges 0, not -0', async () => {
    const { code, stdout } = await run('accounts', 'statement', 'acme', '--month', '2026-01');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^charges +0$/m);
  });

  it('a usage error says what was wrong on one line, without the whole help', async () => {
    const result = await run('usage', '--by', 'week');
    expect(result.stderr).toBe(
      'error: --by: unknown key "week"; use a comma list of hour, day, month, account, key, end_user, model, provider\n',
    );
  });

  it('the sync command offers the sources the sync knows', () => {
    expect([...SOURCES].sort()).toEqual([...SYNC_SOURCES].sort());
  });
});

describe('log lines on a terminal', () => {
  it('are readable lines, not JSON', () => {
    const line = JSON.stringify({
      level: 40,
      time: 1,
      service: 'tollgate',
      msg: 'default pricing used for x',
      model: 'x',
      err: { message: 'boom', stack: '...' },
    });
    expect(readableLine(line)).toBe('warning: default pricing used for x (model=x, err=boom)');
    expect(readableLine('not json')).toBe('not json');
  });
});

describe('tollgate with a reader that stops early', () => {
  it('ends quietly (exit 0, no stack trace) when its output pipe is closed, as `| head` does', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--help'], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // The reader leaves before the command writes a byte: every write meets a closed pipe (EPIPE).
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});
