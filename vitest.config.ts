import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'console/src/**/*.test.ts'],
    // Guards against a hang, not deadlines: the suite must pass on a machine whose two cores are busy with
    // other work, where a suite that starts processes (the CLI, gateways killed and restarted) takes minutes.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // toThrow with an expectation fails when nothing (undefined, null) is thrown: see the file.
    setupFiles: ['test/support/strict-throw.ts'],
  },
});
