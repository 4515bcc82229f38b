import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * The one logger factory. Secrets never reach a log line: the fields that could carry one are redacted
 * wherever they appear (request headers, provider configuration).
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'tollgate' },
      redact: {
        paths: [
          'authorization',
          'apiKey',
          'api_key',
          'key',
          '*.authorization',
          '*.apiKey',
          '*.api_key',
          'headers.authorization',
          'headers["x-api-key"]',
          'headers["x-goog-api-key"]',
          'req.headers.authorization',
        ],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination(2),
  );
}

/** A logger that writes nothing, for tests and CLI commands run with --json. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
