import { InvalidArgumentError, type Command } from 'commander';
import type { Gateway } from '../main.js';
import { configFromCommand, EXIT_PROBLEM, EXIT_USAGE } from './context.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the gateway: migrate, seed an empty catalog, then serve the OpenAI-compatible API and the admin API')
    .option('--host <host>', 'address to listen on (default: $TOLLGATE_HOST or 127.0.0.1)')
    .option('--port <port>', 'port to listen on (default: $TOLLGATE_PORT or 8080)', parsePort)
    .action(async (options: { host?: string; port?: number }, command: Command) => {
      let gateway: Gateway;
      // The whole gateway (HTTP server, providers, tokenizer) loads only for this command.
      const [{ startGateway }, { ConfigError }, { DataDirectoryLockedError }, { createLogger }, { createTerminalLogger }] =
        await Promise.all([
          import('../main.js'),
          import('../config/config.js'),
          import('../db/data-directory-lock.js'),
          import('../logging/logger.js'),
          import('./terminal-log.js'),
        ]);
      try {
        const config = await configFromCommand(command, {
          ...(options.host ? { host: options.host } : {}),
          ...(options.port !== undefined ? { port: options.port } : {}),
        });
        // JSON lines for a log collector; readable lines for a person watching the terminal.
        const logger = process.stderr.isTTY ? createTerminalLogger(config.logLevel) : createLogger(config.logLevel);
        gateway = await startGateway(config, logger);
        const address = await gateway.app.listen({ host: config.http.host, port: config.http.port });
        printBanner(gateway, address);
      } catch (error) {
        const known = error instanceof ConfigError || error instanceof DataDirectoryLockedError;
        process.stderr.write(
          `error: ${known ? '' : 'could not start: '}${error instanceof Error ? error.message : String(error)}\n`,
        );
        process.exitCode = error instanceof ConfigError ? EXIT_USAGE : EXIT_PROBLEM;
        return;
      }
      const stop = async (signal: string) => {
        process.stderr.write(`\n${signal}: finishing in-flight calls and closing\n`);
        await gateway.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop('SIGINT'));
      process.once('SIGTERM', () => void stop('SIGTERM'));
    });
}

function printBanner(gateway: Gateway, address: string): void {
  const { firstStart, config } = gateway;
  const lines = [`tollgate listening on ${address}`];
  lines.push(
    `database: ${config.database.kind === 'postgres' ? 'PostgreSQL' : `embedded PGlite in ${config.database.dataDirectory}`}; catalog: ${gateway.catalog.modelCount} priced models` +
      (gateway.seeded ? ` (seeded ${gateway.seeded.models} from the shipped files)` : ''),
  );
  const { live, demo } = gateway.providers;
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
  const metrics = gateway.metricsUrl
    ? `${gateway.metricsUrl}/metrics`
    : `${address}/metrics${config.metrics.key ? ' (with the metrics key)' : ''}`;
  lines.push('', `console: ${address}/console   API docs: ${address}/docs   readiness: ${address}/readyz   metrics: ${metrics}`);
  if (gateway.database.kind === 'pglite' && config.database.kind === 'pglite') {
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
