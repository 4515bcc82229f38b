// Mutation testing (StrykerJS with its vitest runner): `npm run test:mutation` runs every scope below,
// `npm run test:mutation -- <scope>...` some of them. Each scope mutates one folder (for src/gateway, the call
// path and its billing writes) and runs the suites that exercise it on one backend: PostgreSQL when TEST_DATABASE_URL is set (the script
// sets TOLLGATE_TEST_BACKENDS=postgres: each mutant's run opens its databases anew, and a copy of PostgreSQL's
// migrated template takes a fraction of a PGlite's start), else PGlite; twins on both would only double the time. Runs are
// incremental: a mutant whose code and tests did not change keeps its last result (reports/mutation/).
// Mutants judged equivalent are listed, with the reason, in test/mutation-equivalents.md.
const scope = process.env.TOLLGATE_MUTATION_SCOPE ?? 'money';

/** The call path of src/gateway: request, pipeline, routing, errors, idempotency and what a call reports. */
const GATEWAY_CALL_PATH = [
  'src/gateway/chat-request.ts',
  'src/gateway/pipeline.ts',
  'src/gateway/chat-calls.ts',
  'src/gateway/call-runner.ts',
  'src/gateway/routing.ts',
  'src/gateway/idempotent-calls.ts',
  'src/gateway/error-mapping.ts',
  'src/gateway/errors.ts',
  'src/gateway/usage-payload.ts',
  // An upstream's JSON answer is relayed with its usage spliced into its text.
  'src/util/json-splice.ts',
  // Every answer leaves through the reply writer; a stream's frames wait for a slow client's drain.
  'src/http/call-replies.ts',
  'src/util/drained.ts',
];

/** What a billed call leaves behind in src/gateway: its usage record (queued, retried, written) and the thread that writes batches. */
const GATEWAY_BILLING_WRITES = [
  'src/gateway/usage-recorder.ts',
  'src/gateway/usage-writer.ts',
  'src/gateway/write-thread.ts',
  // Shared with the capture writer (ledger scope), whose rules tests pin it too.
  'src/db/write-retries.ts',
];

export const SCOPES = {
  money: { mutate: ['src/money/**/*.ts'] },
  pricing: { mutate: ['src/pricing/**/*.ts'] },
  ledger: { mutate: ['src/ledger/**/*.ts'] },
  gateway: { mutate: [...GATEWAY_CALL_PATH, ...GATEWAY_BILLING_WRITES] },
  // What the billing writes stand on in src/db: the batching queue, and how an outage is seen and waited out.
  db: { mutate: ['src/db/group-commit.ts', 'src/db/database-health.ts'] },
  // The upstream side of a call: the HTTP client (its retries, timeouts and failures) and the SSE decoder.
  providers: { mutate: ['src/providers/http-client.ts', 'src/providers/sse.ts'] },
  // What a call is billed: each provider's answer (JSON and stream) read into usage, and Gemini's embeddings.
  translators: {
    mutate: [
      'src/providers/anthropic/anthropic-response.ts',
      'src/providers/gemini/gemini-response.ts',
      'src/providers/gemini/gemini-embeddings.ts',
      'src/providers/openai-compatible/openai-compatible-adapter.ts',
    ],
  },
  // The native shapes: Anthropic's Messages and OpenAI's Responses, passed through (their streams relayed, their
  // usage read) or translated through chat (requests, answers and streams made in the shape).
  native: { mutate: ['src/gateway/messages/*.ts', 'src/gateway/responses/*.ts'] },
};

if (!(scope in SCOPES)) throw new Error(`TOLLGATE_MUTATION_SCOPE must be one of ${Object.keys(SCOPES).join(', ')}`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  plugins: ['@stryker-mutator/vitest-runner'],
  mutate: [...SCOPES[scope].mutate, '!src/**/*.test.ts'],
  coverageAnalysis: 'perTest',
  // Static mutants (module-level constants) need every test re-run in a fresh environment each: hours per
  // scope here, for a few per cent of the mutants. They are left out of the score.
  ignoreStatic: true,
  incremental: true,
  incrementalFile: `reports/mutation/${scope}/incremental.json`,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${scope}/index.html` },
  jsonReporter: { fileName: `reports/mutation/${scope}/mutation.json` },
  clearTextReporter: { allowEmojis: false, logTests: false, maxTestsToLog: 0 },
  // One temporary directory per scope, so that scopes can run at the same time.
  tempDirName: `.stryker-tmp/${scope}`,
  cleanTempDir: 'always',
  concurrency: 2,
  // A mutant that makes a test wait (a lease never closing, a capture never written) is killed by timeout.
  timeoutMS: 10_000,
  // The first run of every suite of a scope (gateways started, databases migrated) on a busy machine.
  dryRunTimeoutMinutes: 60,
  timeoutFactor: 2,
  thresholds: { high: 90, low: 85, break: null },
};
