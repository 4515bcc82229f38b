import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { drainedOrClosed } from './drained.js';

/** The listeners a waiter may have added: none must be left once it resolved. */
const counts = (stream: EventEmitter) => ['drain', 'close', 'error'].map((name) => stream.listenerCount(name));

describe('drainedOrClosed', () => {
  it('resolves on drain, many times over, and leaves no listener behind', async () => {
    const stream = new PassThrough({ highWaterMark: 4 });
    const before = counts(stream);
    for (let round = 0; round < 20; round += 1) {
      expect(stream.write('more than four bytes')).toBe(false);
      const waiting = drainedOrClosed(stream);
      expect(counts(stream)).toEqual([before[0]! + 1, before[1]! + 1, before[2]]);
      stream.read(); // the reader takes it: the writable side drains
      await waiting;
      expect(counts(stream)).toEqual(before);
    }
  });

  it('resolves on close, and leaves no listener behind', async () => {
    const stream = new PassThrough({ highWaterMark: 4 });
    stream.write('more than four bytes');
    const before = counts(stream);
    const waiting = drainedOrClosed(stream);
    stream.destroy();
    await waiting;
    expect(counts(stream)).toEqual(before);
  });

  it('waits for the event: nothing resolves it before', async () => {
    const emitter = new EventEmitter();
    let resolved = false;
    const waiting = drainedOrClosed(emitter).then(() => (resolved = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(resolved).toBe(false);
    emitter.emit('close');
    await waiting;
    expect(resolved).toBe(true);
  });
});
