import { Writable } from 'node:stream';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../logging/logger.js';
import { LazyRequestLogger } from './request-logger.js';

function sink(): { lines: Array<Record<string, unknown>>; stream: Writable } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

describe('LazyRequestLogger', () => {
  it('logs as pino child of its parent would: bindings, level, redaction', () => {
    const { lines, stream } = sink();
    const parent = createLogger('info', stream).child({ component: 'http' });
    const logger = new LazyRequestLogger(parent, { reqId: 'r-1' }, {});
    expect(logger.level).toBe('info');
    logger.debug('below the level');
    logger.info({ authorization: 'Bearer tg_secret' }, 'hello %s', 'world');
    logger.child({ step: 'inner' }).warn('from a child');
    expect(lines.map(({ time: _time, pid: _pid, hostname: _host, ...line }) => line)).toEqual([
      { level: 30, service: 'tollgate', component: 'http', reqId: 'r-1', authorization: '[redacted]', msg: 'hello world' },
      { level: 40, service: 'tollgate', component: 'http', reqId: 'r-1', step: 'inner', msg: 'from a child' },
    ]);
  });

  it('takes the level its options give, and a level set on it', () => {
    const parent = createLogger('info', sink().stream);
    const logger = new LazyRequestLogger(parent, { reqId: 'r-2' }, { level: 'warn' });
    expect(logger.level).toBe('warn');
    logger.level = 'debug';
    expect([logger.level, parent.level]).toEqual(['debug', 'info']);
  });

  it('makes no pino child for a request that logs nothing, and one for a request that does', async () => {
    const { lines, stream } = sink();
    const parent = createLogger('info', stream);
    let children = 0;
    // Counts the pino children made from the logger Fastify hands each request.
    const counting = (logger: FastifyBaseLogger): FastifyBaseLogger =>
      new Proxy(logger, {
        get: (target, property, receiver) =>
          property === 'child'
            ? (...args: Parameters<FastifyBaseLogger['child']>) => ((children += 1), target.child(...args))
            : Reflect.get(target, property, receiver),
      });
    const app = Fastify({
      loggerInstance: parent,
      logController: new LogController({ disableRequestLogging: true }),
      genReqId: () => 'req-fixed',
      childLoggerFactory: (logger, bindings, options) => new LazyRequestLogger(counting(logger), bindings, options),
    });
    app.get('/quiet', async () => ({ ok: true }));
    app.get('/loud', async (request) => {
      request.log.warn('something to say');
      return { ok: true };
    });
    expect((await app.inject({ url: '/quiet' })).statusCode).toBe(200);
    expect(children).toBe(0);
    expect((await app.inject({ url: '/loud' })).statusCode).toBe(200);
    expect(children).toBe(1);
    expect(lines.map((line) => [line.reqId, line.msg])).toEqual([['req-fixed', 'something to say']]);
    await app.close();
  });
});
