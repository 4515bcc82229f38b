import { createLogger, type Logger } from '../../src/logging/logger.js';

/**
 * A real pino logger (the gateway's own factory, redaction included) writing into memory, for tests that assert
 * what was logged: `logged()` gives each line parsed, without the fields every line has (time, pid, hostname,
 * service), so a test can compare whole lines.
 */
export function recordingLogger(level = 'debug'): { logger: Logger; logged: () => Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const logger = createLogger(level, { write: (line: string) => void lines.push(line) });
  const logged = () =>
    lines.map((line) => {
      const { time: _time, pid: _pid, hostname: _host, service: _service, ...rest } = JSON.parse(line) as Record<string, unknown>;
      return rest;
    });
  return { logger, logged };
}
