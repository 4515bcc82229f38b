import { relative } from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import base from './vitest.config.js';

/**
 * The suites each mutation scope runs (stryker.config.mjs): the folder's own unit tests and the suites that
 * exercise it end to end. Everything else is left out so that each mutant runs only what can judge it. The
 * CLI's suite (test/ledger-cli.test.ts) is left out of the ledger's too: each of its commands opens a
 * database from disk, ten seconds of every mutant it covers, for what the ledger's own suites already check.
 * So are the suites of caps under load and of the limits' and accounts' admin routes (test/limits-caps,
 * test/gateway-limits, src/http/admin-account-routes: 50 s together, for every surviving mutant of the code
 * they cover): the ledger's unit tests (src/ledger/*-rules.test.ts) pin the same code directly.
 */
const SUITES: Record<string, string[]> = {
  money: ['src/money/**/*.test.ts', 'src/pricing/**/*.test.ts', 'test/peer-*.test.ts'],
  pricing: ['src/pricing/**/*.test.ts', 'test/peer-*.test.ts'],
  ledger: [
    'src/ledger/**/*.test.ts',
    // Not test/ledger-races.test.ts: its processes run the code unmutated (12 s for what the pools' races of
    // test/ledger-concurrency.test.ts check in the mutant's own thread).
    'test/ledger-{concurrency,lease-property,property}.test.ts',
  ],
  // The Responses, Messages and media suites run the same call path (call-runner.ts) under the other API shapes.
  gateway: [
    'src/gateway/**/*.test.ts',
    'src/util/{json-splice,drained}.test.ts',
    'src/http/call-replies.test.ts',
    'test/gateway-*.test.ts',
    'test/api-{messages,responses,media}.test.ts',
  ],
  // The adapters' own tests, the conformance and error suites over recorded provider answers, and the upstream
  // suite (the gateway's answers to upstream failures).
  providers: ['src/providers/**/*.test.ts', 'test/providers-*.test.ts', 'test/gateway-upstream.test.ts'],
  // The translators' own tests, the conformance and error suites over every adapter's recorded answers, and the
  // gateway suites that bill what they read: charges and streams (chat), Messages and Responses (the native
  // shapes), media (Gemini's embeddings).
  translators: [
    'src/providers/{anthropic,gemini,openai-compatible}/*.test.ts',
    'test/providers-*.test.ts',
    'test/gateway-{charges,streams}.test.ts',
    'test/api-{messages,responses,media}.test.ts',
  ],
  // The queue's and the health's own rules, and the two writers that batch through the queue.
  db: [
    'src/db/{group-commit,database-health-rules}.test.ts',
    'src/ledger/capture-writer-rules.test.ts',
    'src/gateway/usage-recorder-rules.test.ts',
  ],
  // The native shapes' own tests (requests, answers, streams), the stream codecs on recorded streams cut where a
  // stream fails, and the suites that run Messages and Responses end to end (passed through and translated
  // through chat, and the demo provider's answers).
  native: [
    'src/gateway/{messages,responses}/*.test.ts',
    'src/gateway/stream-codecs.test.ts',
    'test/api-{messages,responses,demo}.test.ts',
  ],
};

const scope = process.env.TOLLGATE_MUTATION_SCOPE ?? 'money';

/**
 * Stryker stops a mutant's run at its first failing test, so the order of the suites is most of a mutant's
 * time: vitest's own order runs the longest suites first (good for parallel workers, not for one). This one
 * runs the suites that failed last first (they killed the previous mutant, often of the same code), then the
 * quickest, so a mutant is usually killed before the slow suites (the CLI's, those that start processes) run.
 */
class QuickestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const cache = this.ctx.cache;
    const state = (file: TestSpecification) =>
      cache.getFileTestResults(`${file.project.name}:${relative(this.ctx.config.root, file.moduleId)}`);
    return [...files].sort((a, b) => {
      const stateA = state(a);
      const stateB = state(b);
      if (Boolean(stateA?.failed) !== Boolean(stateB?.failed)) return stateA?.failed ? -1 : 1;
      return (stateA?.duration ?? Number.MAX_SAFE_INTEGER) - (stateB?.duration ?? Number.MAX_SAFE_INTEGER);
    });
  }
}

// Replaces the base's include (mergeConfig would add to it). Stryker runs a mutant's suites in one worker
// thread (a new one for each mutant's run); without isolation that thread keeps its modules and its databases
// (test/support/backends.ts lends a closed PGlite to the next suite) from one suite to the next.
export default defineConfig({
  ...base,
  test: { ...base.test, include: SUITES[scope] ?? [], isolate: false, sequence: { sequencer: QuickestFirst } },
});
