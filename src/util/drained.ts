import type { EventEmitter } from 'node:events';

/**
 * Resolves on the stream's next `drain` or `close`, whichever comes first, and leaves no listener behind.
 * (`Promise.race` of `once(stream, 'drain')` and `once(stream, 'close')` left the loser's listener, and `once`'s
 * own `error` listener, on the stream each time: a long stream to a slow reader waits for drain many times.)
 */
export function drainedOrClosed(stream: EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
