import path from 'node:path';
import { z } from 'zod';
import { Decimal } from '../money/decimal.js';

/**
 * All configuration, parsed once at boot from the environment (see `loadConfig`), validated, and frozen.
 * Only src/main.ts and the CLI's entry read `process.env`; everything else receives a `Config`.
 */
export interface Config {
  database: { kind: 'postgres'; url: string } | { kind: 'pglite'; dataDirectory: string };
  http: {
    host: string;
    port: number;
    bodyLimitBytes: number;
    /** Receiving a whole request (headers and body) may take this long; a stalled client is cut off. */
    requestTimeoutMs: number;
    /** Receiving the headers may take this long. */
    headersTimeoutMs: number;
    /** Idle keep-alive connections are closed after this long. */
    keepAliveTimeoutMs: number;
    /** Open connections beyond this are refused. */
    maxConnections: number;
  };
  /** `/metrics` protection: a bearer key it requires, and/or a listen address of its own (then it leaves the main port). */
  metrics: { key: string | undefined; host: string | undefined; port: number | undefined };
  /** The first admin key: accepted on /admin routes as `Authorization: Bearer <key>`. */
  adminKey: string | undefined;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  pricing: {
    ttlSeconds: number;
    /** What a call to a model with no price does: charge the default price, or fail with 404. */
    unpricedModels: 'default' | 'reject';
    /** USD per single token. */
    defaultInputRate: Decimal;
    defaultOutputRate: Decimal;
    /** The JSON fallback file (the seed's `llm_pricing_current.json` format), used when the catalog has no price. */
    fallbackFile: string | undefined;
    /**
     * Providers in the operator's order, for a bare name several providers list when neither the routed
     * provider nor the model's maker lists it (e.g. `groq,together`).
     */
    providerPreference: string[];
  };
  markup: { percent: Decimal | undefined; fixedFee: Decimal | undefined };
  /** Upstream providers by id: base URL and key. Ids are the registry's (openai, anthropic, gemini, nosana, ...). */
  providers: Record<string, { baseUrl: string | undefined; apiKey: string | undefined }>;
  upstream: { timeoutMs: number; connectTimeoutMs: number; maxRetries: number; maxBodyBytes: number };
  ledger: {
    holdMaxAgeSeconds: number;
    sweepIntervalSeconds: number;
    /**
     * How calls reserve credits: `lease` (default) carves them from a block this process holds, with no
     * database round trip on the call's path; `per_call` writes a durable hold and capture for every call.
     */
    holds: 'lease' | 'per_call';
    /** A lease reserves `callsPerLease` times its call, growing to `maxCallsPerLease` for an account whose leases run out fast. */
    lease: { callsPerLease: number; maxCallsPerLease: number; maxAgeMs: number; idleMs: number };
    /** After this long without a heartbeat, an instance is dead: its holds and leases are released. */
    instanceSilenceMs: number;
    /** An idempotency claim with no owner (made before owners were recorded) is taken over after this long. */
    idempotencyClaimSeconds: number;
    /** The capture journal: `write` (survives a killed process), `fsync` (survives a host crash), `off`. */
    journal: 'write' | 'fsync' | 'off';
    journalDirectory: string;
    /**
     * On PostgreSQL, where captures and usage records are written in batches: on a thread of their own with
     * its own connections (`on`), or by the thread that serves the calls (`off`); `auto` (the default): on when
     * the machine has more cores than `tollgate serve` runs processes. PGlite: always the serving thread.
     */
    writeThread: 'auto' | 'on' | 'off';
    /**
     * How long a settled call's capture (drawn on a credit lease) and its usage record wait for others to share
     * their batch's insert. Longer: fewer, larger batches, less database work per call; the balance and the
     * reports show a call that much later (the journal has it from the moment its answer leaves).
     */
    writeLingerMs: number;
  };
  limits: {
    /** Redis for rate limits shared by every instance (REDIS_URL); without it each instance counts alone. */
    redisUrl: string | undefined;
    /** Thresholds (percent of a cap) at which an alert is raised, once per cap, period and threshold. */
    alertThresholds: number[];
    /** A request header naming the caller's end user, for calls that send no `user` field (lower case). */
    endUserHeader: string | undefined;
  };
  sync: {
    cron: string | undefined;
    sources: string[];
    urls: Record<string, string | undefined>;
    maxChangeRatio: Decimal;
    timeoutMs: number;
    alertWebhookUrl: string | undefined;
  };
  /** The console's sessions (served at /console): ended after this long idle, or this long after sign-in. */
  console: { sessionIdleMs: number; sessionMaxAgeMs: number };
  /** Seed the catalog from the files shipped in data/ when it is empty (the no-configuration start). */
  seedOnStart: boolean;
  /**
   * Processes `tollgate serve` runs (TOLLGATE_WORKERS or `--workers`); undefined: the number of cores on
   * PostgreSQL, one on the embedded database (which one process owns).
   */
  workers: number | undefined;
  /**
   * The local demo provider: `auto` answers every call with it while no upstream key is configured at all
   * (a fresh install can make priced calls at once); `on` always; `off` never.
   */
  demo: 'auto' | 'on' | 'off';
  /** Where a model name that neither the catalog nor its naming identifies is sent (undefined: refused). */
  defaultProvider: string | undefined;
  /** Output tokens assumed for the worst-case hold when neither the request nor the catalog gives a limit. */
  defaultMaxOutputTokens: number;
  /** How a call whose upstream reported impossible usage is charged: at most the worst case held, or as reported. */
  usageAnomalyPolicy: 'cap' | 'charge';
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** The upstreams the registry knows, with the environment variable prefix for each one's URL and key. */
export const PROVIDER_ENVIRONMENT_PREFIXES: Record<string, string> = {
  openai: 'OPENAI',
  anthropic: 'ANTHROPIC',
  gemini: 'GEMINI',
  nosana: 'NOSANA',
  deepinfra: 'DEEPINFRA',
  featherless: 'FEATHERLESS',
  openrouter: 'OPENROUTER',
  together: 'TOGETHER',
  groq: 'GROQ',
  fireworks: 'FIREWORKS',
  cerebras: 'CEREBRAS',
  hyperbolic: 'HYPERBOLIC',
  sambanova: 'SAMBANOVA',
  lambda: 'LAMBDA',
  mistral: 'MISTRAL',
  deepseek: 'DEEPSEEK',
  xai: 'XAI',
  perplexity: 'PERPLEXITY',
  moonshot: 'MOONSHOT',
  nscale: 'NSCALE',
};

const decimalText = (name: string) =>
  z.string().transform((text, context) => {
    try {
      return Decimal.parse(text);
    } catch {
      context.addIssue({
        code: 'custom',
        message: `${name} must be a decimal number such as "1.50", got ${JSON.stringify(text)}`,
      });
      return z.NEVER;
    }
  });

const integer = (name: string, minimum: number) =>
  z
    .string()
    .regex(/^\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .refine((value) => value >= minimum, `${name} must be at least ${minimum}`);

/**
 * How large a busy account's credit lease may grow, in calls' worth (TOLLGATE_LEASE_MAX_CALLS): enough for
 * about a second of one account's calls at a few thousand calls a second, so it opens a lease a second
 * rather than one per 32 calls (each opening a database write that waits on the account's row).
 */
const DEFAULT_LEASE_MAX_CALLS = 2_048;

/**
 * How long a capture and a usage record wait for company (TOLLGATE_WRITE_LINGER_MS). 250 ms, not 100: with two
 * workers billing one account at 50 connections, PostgreSQL spent 11–37% less CPU per call (five pairs of runs,
 * each lower), and the added p99 at sequential calls did not move with the batches' size (README, "Larger batches").
 */
const DEFAULT_WRITE_LINGER_MS = 250;
/** Past this, a call's capture would wait longer than an idle lease lives (TOLLGATE_LEASE_IDLE_MS's default). */
const MAX_WRITE_LINGER_MS = 2_000;

const environmentSchema = z.object({
  DATABASE_URL: z.string().url('DATABASE_URL must be a postgres:// URL').optional(),
  TOLLGATE_DATA_DIR: z.string().default('.tollgate'),
  TOLLGATE_HOST: z.string().default('127.0.0.1'),
  TOLLGATE_PORT: integer('TOLLGATE_PORT', 0).default(8080),
  TOLLGATE_BODY_LIMIT_BYTES: integer('TOLLGATE_BODY_LIMIT_BYTES', 1024).default(10 * 1024 * 1024),
  TOLLGATE_REQUEST_TIMEOUT_MS: integer('TOLLGATE_REQUEST_TIMEOUT_MS', 1000).default(30_000),
  TOLLGATE_HEADERS_TIMEOUT_MS: integer('TOLLGATE_HEADERS_TIMEOUT_MS', 1000).default(10_000),
  TOLLGATE_KEEP_ALIVE_TIMEOUT_MS: integer('TOLLGATE_KEEP_ALIVE_TIMEOUT_MS', 1).default(72_000),
  TOLLGATE_MAX_CONNECTIONS: integer('TOLLGATE_MAX_CONNECTIONS', 1).default(10_000),
  TOLLGATE_METRICS_KEY: z.string().min(16, 'TOLLGATE_METRICS_KEY must be at least 16 characters').optional(),
  TOLLGATE_METRICS_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d{1,5}$/, 'TOLLGATE_METRICS_ADDRESS must be host:port, e.g. 127.0.0.1:9464')
    .optional(),
  TOLLGATE_ADMIN_KEY: z.string().min(16, 'TOLLGATE_ADMIN_KEY must be at least 16 characters').optional(),
  TOLLGATE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TOLLGATE_PRICING_TTL_SECONDS: integer('TOLLGATE_PRICING_TTL_SECONDS', 1).default(900),
  TOLLGATE_UNPRICED_MODELS: z
    .enum(['default', 'reject'], 'TOLLGATE_UNPRICED_MODELS must be "default" or "reject"')
    .default('default'),
  TOLLGATE_DEFAULT_INPUT_PER_1M: decimalText('TOLLGATE_DEFAULT_INPUT_PER_1M').default(Decimal.parse('1')),
  TOLLGATE_DEFAULT_OUTPUT_PER_1M: decimalText('TOLLGATE_DEFAULT_OUTPUT_PER_1M').default(Decimal.parse('2')),
  TOLLGATE_FALLBACK_PRICING_FILE: z.string().optional(),
  TOLLGATE_PROVIDER_PREFERENCE: z
    .string()
    .default('')
    .transform((text) =>
      text
        .split(',')
        .map((id) => id.trim().toLowerCase())
        .filter((id) => id !== ''),
    )
    .pipe(z.array(z.string().regex(/^[a-z0-9._-]+$/, 'TOLLGATE_PROVIDER_PREFERENCE must list provider ids separated by commas'))),
  TOLLGATE_MARKUP_PERCENT: decimalText('TOLLGATE_MARKUP_PERCENT').optional(),
  TOLLGATE_MARKUP_FIXED_FEE: decimalText('TOLLGATE_MARKUP_FIXED_FEE').optional(),
  TOLLGATE_UPSTREAM_TIMEOUT_MS: integer('TOLLGATE_UPSTREAM_TIMEOUT_MS', 1).default(300_000),
  TOLLGATE_UPSTREAM_CONNECT_TIMEOUT_MS: integer('TOLLGATE_UPSTREAM_CONNECT_TIMEOUT_MS', 1).default(10_000),
  TOLLGATE_UPSTREAM_MAX_RETRIES: integer('TOLLGATE_UPSTREAM_MAX_RETRIES', 0).default(2),
  TOLLGATE_UPSTREAM_MAX_BODY_BYTES: integer('TOLLGATE_UPSTREAM_MAX_BODY_BYTES', 1024).default(64 * 1024 * 1024),
  TOLLGATE_HOLD_MAX_AGE_SECONDS: integer('TOLLGATE_HOLD_MAX_AGE_SECONDS', 1).default(900),
  TOLLGATE_SWEEP_INTERVAL_SECONDS: integer('TOLLGATE_SWEEP_INTERVAL_SECONDS', 1).default(10),
  TOLLGATE_INSTANCE_SILENCE_SECONDS: integer('TOLLGATE_INSTANCE_SILENCE_SECONDS', 1).default(30),
  TOLLGATE_IDEMPOTENCY_CLAIM_SECONDS: integer('TOLLGATE_IDEMPOTENCY_CLAIM_SECONDS', 1).default(900),
  TOLLGATE_JOURNAL: z.enum(['write', 'fsync', 'off'], 'TOLLGATE_JOURNAL must be "write", "fsync" or "off"').default('write'),
  TOLLGATE_JOURNAL_DIR: z.string().optional(),
  TOLLGATE_WRITE_THREAD: z.enum(['auto', 'on', 'off'], 'TOLLGATE_WRITE_THREAD must be "auto", "on" or "off"').default('auto'),
  TOLLGATE_WRITE_LINGER_MS: integer('TOLLGATE_WRITE_LINGER_MS', 0)
    .refine((value) => value <= MAX_WRITE_LINGER_MS, `TOLLGATE_WRITE_LINGER_MS must be at most ${MAX_WRITE_LINGER_MS}`)
    .default(DEFAULT_WRITE_LINGER_MS),
  TOLLGATE_HOLDS: z.enum(['lease', 'per_call'], 'TOLLGATE_HOLDS must be "lease" or "per_call"').default('lease'),
  TOLLGATE_LEASE_CALLS: integer('TOLLGATE_LEASE_CALLS', 1).default(32),
  TOLLGATE_LEASE_MAX_CALLS: integer('TOLLGATE_LEASE_MAX_CALLS', 1).optional(),
  TOLLGATE_LEASE_MAX_AGE_MS: integer('TOLLGATE_LEASE_MAX_AGE_MS', 1).default(10_000),
  TOLLGATE_LEASE_IDLE_MS: integer('TOLLGATE_LEASE_IDLE_MS', 1).default(2_000),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'REDIS_URL must be a redis:// or rediss:// URL')
    .optional(),
  TOLLGATE_END_USER_HEADER: z
    .string()
    .regex(/^[A-Za-z0-9-]+$/, 'TOLLGATE_END_USER_HEADER must be a header name such as x-end-user')
    .optional(),
  TOLLGATE_CAP_ALERT_PERCENTS: z
    .string()
    .regex(
      /^\s*\d{1,3}(\s*,\s*\d{1,3})*\s*$/,
      'TOLLGATE_CAP_ALERT_PERCENTS must be whole percents separated by commas, e.g. 50,80,100',
    )
    .default('50,80,100'),
  TOLLGATE_SYNC_CRON: z.string().default('0 4 * * *'),
  TOLLGATE_SYNC_SOURCES: z.string().default('openrouter,litellm'),
  TOLLGATE_SYNC_URL_OPENROUTER: z.string().url().default('https://openrouter.ai/api/v1/models'),
  TOLLGATE_SYNC_URL_LITELLM: z
    .string()
    .url()
    .default('https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json'),
  TOLLGATE_SYNC_URL_GENAI_PRICES: z
    .string()
    .url()
    .default('https://raw.githubusercontent.com/pydantic/genai-prices/main/prices/data.json'),
  TOLLGATE_SYNC_URL_PORTKEY: z.string().url().optional(),
  TOLLGATE_SYNC_MAX_CHANGE_RATIO: decimalText('TOLLGATE_SYNC_MAX_CHANGE_RATIO').default(Decimal.parse('10')),
  TOLLGATE_SYNC_TIMEOUT_MS: integer('TOLLGATE_SYNC_TIMEOUT_MS', 1).default(60_000),
  TOLLGATE_ALERT_WEBHOOK_URL: z.string().url('TOLLGATE_ALERT_WEBHOOK_URL must be an http(s) URL').optional(),
  TOLLGATE_CONSOLE_SESSION_IDLE_MINUTES: integer('TOLLGATE_CONSOLE_SESSION_IDLE_MINUTES', 1).default(30),
  TOLLGATE_CONSOLE_SESSION_MAX_HOURS: integer('TOLLGATE_CONSOLE_SESSION_MAX_HOURS', 1).default(12),
  TOLLGATE_SEED_ON_START: z.enum(['true', 'false']).default('true'),
  TOLLGATE_WORKERS: integer('TOLLGATE_WORKERS', 1).optional(),
  TOLLGATE_DEMO: z.enum(['auto', 'on', 'off'], 'TOLLGATE_DEMO must be "auto", "on" or "off"').default('auto'),
  TOLLGATE_DEFAULT_PROVIDER: z.string().default('openai'),
  TOLLGATE_DEFAULT_MAX_OUTPUT_TOKENS: integer('TOLLGATE_DEFAULT_MAX_OUTPUT_TOKENS', 1).default(4096),
  TOLLGATE_USAGE_ANOMALY_POLICY: z
    .enum(
      ['cap', 'charge'],
      'TOLLGATE_USAGE_ANOMALY_POLICY must be "cap" (charge at most the worst case held) or "charge" (as reported)',
    )
    .default('cap'),
});

/**
 * Parses the environment into a frozen Config.
 * @throws ConfigError listing every invalid variable and how to fix it.
 */
export function loadConfig(environment: Record<string, string | undefined>, overrides: ConfigOverrides = {}): Config {
  const cleaned = Object.fromEntries(Object.entries(environment).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = environmentSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `- ${issue.path.join('.') || 'environment'}: ${issue.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const env = parsed.data;
  // The sweeper releases holds older than this; a lease lives up to its maximum age plus its longest call.
  const leaseLifetimeMs = env.TOLLGATE_LEASE_MAX_AGE_MS + env.TOLLGATE_UPSTREAM_TIMEOUT_MS;
  if (env.TOLLGATE_HOLDS === 'lease' && env.TOLLGATE_HOLD_MAX_AGE_SECONDS * 1000 <= leaseLifetimeMs) {
    throw new ConfigError(
      `invalid configuration:\n- TOLLGATE_HOLD_MAX_AGE_SECONDS: must exceed TOLLGATE_LEASE_MAX_AGE_MS plus ` +
        `TOLLGATE_UPSTREAM_TIMEOUT_MS (${leaseLifetimeMs} ms), or the sweeper would release credit leases still in use`,
    );
  }
  if (env.TOLLGATE_LEASE_MAX_CALLS !== undefined && env.TOLLGATE_LEASE_MAX_CALLS < env.TOLLGATE_LEASE_CALLS) {
    throw new ConfigError(
      `invalid configuration:\n- TOLLGATE_LEASE_MAX_CALLS: must be at least TOLLGATE_LEASE_CALLS (${env.TOLLGATE_LEASE_CALLS}), ` +
        `the size a lease starts from`,
    );
  }
  const providers: Config['providers'] = {};
  for (const [id, prefix] of Object.entries(PROVIDER_ENVIRONMENT_PREFIXES)) {
    providers[id] = { baseUrl: cleaned[`${prefix}_BASE_URL`], apiKey: cleaned[`${prefix}_API_KEY`] };
  }
  const databaseUrl = overrides.databaseUrl ?? env.DATABASE_URL;
  const config: Config = {
    database: databaseUrl
      ? { kind: 'postgres', url: databaseUrl }
      : { kind: 'pglite', dataDirectory: path.resolve(overrides.dataDirectory ?? env.TOLLGATE_DATA_DIR) },
    http: {
      host: overrides.host ?? env.TOLLGATE_HOST,
      port: overrides.port ?? env.TOLLGATE_PORT,
      bodyLimitBytes: env.TOLLGATE_BODY_LIMIT_BYTES,
      requestTimeoutMs: env.TOLLGATE_REQUEST_TIMEOUT_MS,
      headersTimeoutMs: Math.min(env.TOLLGATE_HEADERS_TIMEOUT_MS, env.TOLLGATE_REQUEST_TIMEOUT_MS),
      keepAliveTimeoutMs: env.TOLLGATE_KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: env.TOLLGATE_MAX_CONNECTIONS,
    },
    metrics: {
      key: env.TOLLGATE_METRICS_KEY,
      host: env.TOLLGATE_METRICS_ADDRESS?.replace(/:\d+$/, ''),
      port: env.TOLLGATE_METRICS_ADDRESS ? Number(env.TOLLGATE_METRICS_ADDRESS.replace(/^.*:/, '')) : undefined,
    },
    adminKey: env.TOLLGATE_ADMIN_KEY,
    logLevel: env.TOLLGATE_LOG_LEVEL,
    pricing: {
      ttlSeconds: env.TOLLGATE_PRICING_TTL_SECONDS,
      unpricedModels: env.TOLLGATE_UNPRICED_MODELS,
      defaultInputRate: env.TOLLGATE_DEFAULT_INPUT_PER_1M.shift(-6),
      defaultOutputRate: env.TOLLGATE_DEFAULT_OUTPUT_PER_1M.shift(-6),
      fallbackFile: env.TOLLGATE_FALLBACK_PRICING_FILE,
      providerPreference: env.TOLLGATE_PROVIDER_PREFERENCE,
    },
    markup: { percent: env.TOLLGATE_MARKUP_PERCENT, fixedFee: env.TOLLGATE_MARKUP_FIXED_FEE },
    providers,
    upstream: {
      timeoutMs: env.TOLLGATE_UPSTREAM_TIMEOUT_MS,
      connectTimeoutMs: env.TOLLGATE_UPSTREAM_CONNECT_TIMEOUT_MS,
      maxRetries: env.TOLLGATE_UPSTREAM_MAX_RETRIES,
      maxBodyBytes: env.TOLLGATE_UPSTREAM_MAX_BODY_BYTES,
    },
    ledger: {
      holdMaxAgeSeconds: env.TOLLGATE_HOLD_MAX_AGE_SECONDS,
      sweepIntervalSeconds: env.TOLLGATE_SWEEP_INTERVAL_SECONDS,
      holds: env.TOLLGATE_HOLDS,
      lease: {
        callsPerLease: env.TOLLGATE_LEASE_CALLS,
        maxCallsPerLease: env.TOLLGATE_LEASE_MAX_CALLS ?? Math.max(DEFAULT_LEASE_MAX_CALLS, env.TOLLGATE_LEASE_CALLS),
        maxAgeMs: env.TOLLGATE_LEASE_MAX_AGE_MS,
        idleMs: env.TOLLGATE_LEASE_IDLE_MS,
      },
      instanceSilenceMs: env.TOLLGATE_INSTANCE_SILENCE_SECONDS * 1000,
      idempotencyClaimSeconds: env.TOLLGATE_IDEMPOTENCY_CLAIM_SECONDS,
      journal: env.TOLLGATE_JOURNAL,
      journalDirectory: path.resolve(
        env.TOLLGATE_JOURNAL_DIR ?? path.join(overrides.dataDirectory ?? env.TOLLGATE_DATA_DIR, 'journal'),
      ),
      writeThread: env.TOLLGATE_WRITE_THREAD,
      writeLingerMs: env.TOLLGATE_WRITE_LINGER_MS,
    },
    limits: {
      redisUrl: env.REDIS_URL,
      endUserHeader: env.TOLLGATE_END_USER_HEADER?.toLowerCase(),
      alertThresholds: [...new Set(env.TOLLGATE_CAP_ALERT_PERCENTS.split(',').map((part) => Number(part.trim())))].sort(
        (a, b) => a - b,
      ),
    },
    sync: {
      cron: env.TOLLGATE_SYNC_CRON === 'off' ? undefined : env.TOLLGATE_SYNC_CRON,
      sources: env.TOLLGATE_SYNC_SOURCES.split(',')
        .map((source) => source.trim())
        .filter(Boolean),
      urls: {
        openrouter: env.TOLLGATE_SYNC_URL_OPENROUTER,
        litellm: env.TOLLGATE_SYNC_URL_LITELLM,
        'genai-prices': env.TOLLGATE_SYNC_URL_GENAI_PRICES,
        portkey: env.TOLLGATE_SYNC_URL_PORTKEY,
      },
      maxChangeRatio: env.TOLLGATE_SYNC_MAX_CHANGE_RATIO,
      timeoutMs: env.TOLLGATE_SYNC_TIMEOUT_MS,
      alertWebhookUrl: env.TOLLGATE_ALERT_WEBHOOK_URL,
    },
    console: {
      sessionIdleMs: env.TOLLGATE_CONSOLE_SESSION_IDLE_MINUTES * 60_000,
      sessionMaxAgeMs: env.TOLLGATE_CONSOLE_SESSION_MAX_HOURS * 3_600_000,
    },
    seedOnStart: env.TOLLGATE_SEED_ON_START === 'true',
    workers: overrides.workers ?? env.TOLLGATE_WORKERS,
    demo: env.TOLLGATE_DEMO,
    defaultProvider: env.TOLLGATE_DEFAULT_PROVIDER === 'none' ? undefined : env.TOLLGATE_DEFAULT_PROVIDER,
    defaultMaxOutputTokens: env.TOLLGATE_DEFAULT_MAX_OUTPUT_TOKENS,
    usageAnomalyPolicy: env.TOLLGATE_USAGE_ANOMALY_POLICY,
  };
  return deepFreeze(config);
}

/** Values the CLI's flags (`--port`, `--data-dir`, ...) set over the environment. */
export interface ConfigOverrides {
  databaseUrl?: string;
  dataDirectory?: string;
  host?: string;
  port?: number;
  workers?: number;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Decimal.isDecimal(value) && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
