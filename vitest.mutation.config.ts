import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The suites each mutation scope runs (stryker.config.mjs): the folder's own unit tests and the suites that
 * exercise it end to end. Everything else is left out so that each mutant runs only what can judge it.
 */
const SUITES: Record<string, string[]> = {
  money: ['src/money/**/*.test.ts', 'src/pricing/**/*.test.ts', 'test/peer-*.test.ts'],
  pricing: ['src/pricing/**/*.test.ts', 'test/peer-*.test.ts'],
  ledger: ['src/ledger/**/*.test.ts', 'test/ledger-*.test.ts'],
  gateway: ['src/gateway/**/*.test.ts', 'test/gateway-*.test.ts'],
};

const scope = process.env.TOLLGATE_MUTATION_SCOPE ?? 'money';

// Replaces the base's include (mergeConfig would add to it). Stryker runs the suites in one worker thread;
// without isolation that thread keeps its modules, PGlite's compiled WebAssembly and the migrated template
// (test/support/backends.ts) from one suite and one mutant to the next, which halves the time of a mutant.
// Mutants are switched on at run time (Stryker's mutant schemata), so no module needs to be loaded again.
export default defineConfig({ ...base, test: { ...base.test, include: SUITES[scope] ?? [], isolate: false } });
