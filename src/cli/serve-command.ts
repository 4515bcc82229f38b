import { InvalidArgumentError, type Command } from 'commander';
import { availableParallelism } from 'node:os';
import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import type { Gateway, Prepared } from '../main.js';
import { configFromCommand, EXIT_PROBLEM, EXIT_USAGE } from './context.js';

/** Listens on the configured address; a port in use is said so, with how to choose another. */
async function listen(gateway: Gateway, config: Config): Promise<string> {
  try {
    return await gateway.app.listen({ host: config.http.host, port: config.http.port });
  } catch (error) {
    if ((error as { code?: string }).code !== 'EADDRINUSE') throw error;
    throw new Error(
      `${config.http.host}:${config.http.port} is in use by another process (choose another with --port or TOLLGATE_PORT)`,
    );
  }
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the gateway: migrate, seed an empty catalog, then serve the OpenAI-compatible API and the admin API')
    .option('--host <host>', 'address to listen on (default: $TOLLGATE_HOST or 127.0.0.1)')
    .option('--port <port>', 'port to listen on (default: $TOLLGATE_PORT or 8080)', parsePort)
    .option(
      '--workers <count>',
      'processes serving the port (default: $TOLLGATE_WORKERS, else the number of cores on PostgreSQL and 1 on the embedded database, which one process owns; 1 runs no worker processes)',
      parseWorkers,
    )
    .action(async (options: { host?: string; port?: number; workers?: number }, command: Command) => {
      // The whole gateway (HTTP server, providers, tokenizer) loads only for this command.
      const [main, { ConfigError }, { DataDirectoryLockedError }, { createLogger }, { createTerminalLogger }, workers] =
        await Promise.all([
          import('../main.js'),
          import('../config/config.js'),
          import('../db/data-directory-lock.js'),
          import('../logging/logger.js'),
          import('./terminal-log.js'),
          import('./serve-workers.js'),
        ]);
      const fail = (error: unknown) => {
        const known = error instanceof ConfigError || error instanceof DataDirectoryLockedError;
        process.stderr.write(
          `error: ${known ? '' : 'could not start: '}${error instanceof Error ? error.message : String(error)}\n`,
        );
        process.exitCode = error instanceof ConfigError ? EXIT_USAGE : EXIT_PROBLEM;
      };
      let config: Config;
      let logger: Logger;
      try {
        config = await configFromCommand(command, {
          ...(options.host ? { host: options.host } : {}),
          ...(options.port !== undefined ? { port: options.port } : {}),
          ...(options.workers !== undefined ? { workers: options.workers } : {}),
        });
        // JSON lines for a log collector; readable lines for a person watching the terminal.
        logger = process.stderr.isTTY ? createTerminalLogger(config.logLevel) : createLogger(config.logLevel);
      } catch (error) {
        fail(error);
        if (workers.isServeWorker()) process.exit(Number(process.exitCode));
        return;
      }

      if (workers.isServeWorker()) {
        const slot = Number(process.env.TOLLGATE_WORKER_SLOT);
        await workers.runWorker({
          config,
          logger: logger.child({ worker: slot }),
          start: ({ background, renderMetrics, rateLimiter }) =>
            main.startGateway(config, logger.child({ worker: slot }), {
              prepared: { seeded: undefined, firstStart: {} },
              background,
              metricsServer: false,
              renderMetrics,
              ...(rateLimiter ? { rateLimiter } : {}),
            }),
        });
        return;
      }
      const count = config.workers ?? (config.database.kind === 'postgres' ? availableParallelism() : 1);
      if (count > 1 && config.database.kind === 'pglite') {
        process.stderr.write(
          `error: --workers ${count} needs PostgreSQL (DATABASE_URL or --database-url): the embedded database belongs to one process; ` +
            'run with --workers 1 (the default on the embedded database), or several instances on one PostgreSQL\n',
        );
        process.exitCode = EXIT_USAGE;
        return;
      }
      if (count > 1) {
        try {
          await workers.runPrimary({
            config,
            workers: count,
            logger,
            async prepare() {
              const { openDatabase } = await import('../db/database.js');
              const database = await openDatabase(config.database, { logger });
              try {
                return await main.prepareDatabase(database, config, logger);
              } finally {
                await database.close();
              }
            },
            async startMetricsServer(render) {
              if (config.metrics.port === undefined) return undefined;
              const { startMetricsServer } = await import('../http/metrics-server.js');
              return startMetricsServer({ render }, { host: config.metrics.host ?? '127.0.0.1', port: config.metrics.port });
            },
            printBanner(prepared, facts, extra) {
              printBanner({
                config,
                ...prepared,
                ...facts,
                metricsUrl: extra.metricsUrl,
                sharesEmbedded: false,
                workerPids: extra.pids,
              });
            },
          });
        } catch (error) {
          fail(error);
        }
        return;
      }

      let gateway: Gateway | undefined;
      try {
        gateway = await main.startGateway(config, logger);
        const address = await listen(gateway, config);
        printBanner({
          config,
          address,
          firstStart: gateway.firstStart,
          seeded: gateway.seeded,
          modelCount: gateway.catalog.modelCount,
          providers: gateway.providers,
          metricsUrl: gateway.metricsUrl,
          sharesEmbedded: gateway.database.kind === 'pglite',
          workerPids: [],
        });
      } catch (error) {
        fail(error);
        // Started but not listening (the port taken): stop what started (the instance's heartbeat, its leases,
        // the timers), which would otherwise keep the process alive as a gateway serving nothing.
        await gateway?.close().catch(() => undefined);
        process.exit(Number(process.exitCode));
      }
      const serving = gateway;
      const stop = async (signal: string) => {
        process.stderr.write(`\n${signal}: finishing in-flight calls and closing\n`);
        await serving.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop('SIGINT'));
      process.once('SIGTERM', () => void stop('SIGTERM'));
    });
}

interface Banner extends Prepared {
  config: Config;
  address: string;
  modelCount: number;
  providers: Gateway['providers'];
  metricsUrl: string | undefined;
  /** CLI commands reach this server's embedded database through the socket it shares. */
  sharesEmbedded: boolean;
  /** The worker processes' ids (none when the one process serves). */
  workerPids: number[];
}

function printBanner(banner: Banner): void {
  const { firstStart, config, address } = banner;
  const lines = [`tollgate listening on ${address}`];
  lines.push(
    `database: ${config.database.kind === 'postgres' ? 'PostgreSQL' : `embedded PGlite in ${config.database.dataDirectory}`}; catalog: ${banner.modelCount} priced models` +
      (banner.seeded ? ` (seeded ${banner.seeded.models} from the shipped files)` : ''),
  );
  if (banner.workerPids.length > 0)
    lines.push(
      `workers: ${banner.workerPids.length} processes share the port (pids ${banner.workerPids.join(', ')}; primary ${process.pid})`,
    );
  const { live, demo } = banner.providers;
  if (demo === 'always')
    lines.push('providers: the demo provider answers every call (TOLLGATE_DEMO=on), priced as the real model');
  else if (demo === 'standing-in') {
    lines.push(
      'providers: none configured, so the demo provider answers every call, priced as the real model',
      '  (set OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, ... to call real providers)',
    );
  } else
    lines.push(`providers live: ${live.length > 0 ? live.join(', ') : 'none (every call will fail: set a provider API key)'}`);
  if (firstStart.demoAccount) {
    const { name, key, credits } = firstStart.demoAccount;
    lines.push(
      '',
      `demo account "${name}" with $${credits} of credits; its API key (shown once, stored only as a hash):`,
      `  ${key}`,
    );
    lines.push(
      '',
      'try it:',
      `  curl -s ${address}/v1/chat/completions -H "Authorization: Bearer ${key}" -H "Content-Type: application/json" \\`,
      `    -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 50}'`,
    );
  }
  if (firstStart.adminKey)
    lines.push(
      '',
      'admin key for /admin routes (shown once; set TOLLGATE_ADMIN_KEY to choose your own):',
      `  ${firstStart.adminKey}`,
    );
  const metrics = banner.metricsUrl
    ? `${banner.metricsUrl}/metrics`
    : `${address}/metrics${config.metrics.key ? ' (with the metrics key)' : ''}`;
  lines.push('', `console: ${address}/console   API docs: ${address}/docs   readiness: ${address}/readyz   metrics: ${metrics}`);
  if (banner.sharesEmbedded && config.database.kind === 'pglite') {
    lines.push(`tollgate commands on ${config.database.dataDirectory} reach this server's database while it runs`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidArgumentError(`must be a whole number from 0 to 65535, got ${value}`);
  return port;
}

function parseWorkers(value: string): number {
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1 || count > 256)
    throw new InvalidArgumentError(`must be a whole number from 1 to 256, got ${value}`);
  return count;
}
