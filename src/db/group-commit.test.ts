import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { batchChannel, GroupCommitQueue, type BatchEvent, type Settled } from './group-commit.js';

/** A queue whose runs are recorded and finish only when the test says so. */
function recordingQueue(options: { maxBatch: number; lingerMs?: number }) {
  const batches: number[][] = [];
  const finishers: Array<() => void> = [];
  const queue = new GroupCommitQueue<number, number>(
    (inputs) => {
      batches.push(inputs);
      return new Promise<Array<Settled<number>>>((resolve) =>
        finishers.push(() => resolve(inputs.map((input) => ({ value: input * 10 })))),
      );
    },
    { ...options, now: () => Date.now() },
  );
  const finishRun = async () => {
    finishers.shift()!();
    await vi.advanceTimersByTimeAsync(0);
  };
  return { queue, batches, finishRun };
}

describe('group commit (controlled clock)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('without a linger, runs an input at once and what arrives meanwhile in the next run', async () => {
    const { queue, batches, finishRun } = recordingQueue({ maxBatch: 10 });
    const first = queue.submit(1);
    expect(batches).toEqual([[1]]);
    const later = [queue.submit(2), queue.submit(3)];
    expect(batches).toEqual([[1]]);
    await finishRun();
    expect(batches).toEqual([[1], [2, 3]]);
    await finishRun();
    await expect(Promise.all([first, ...later])).resolves.toEqual([10, 20, 30]);
  });

  it('with a linger, a batch starts once its oldest input has waited that long, between runs too', async () => {
    const { queue, batches, finishRun } = recordingQueue({ maxBatch: 10, lingerMs: 20 });
    void queue.submit(1);
    await vi.advanceTimersByTimeAsync(19);
    expect(batches).toEqual([]);
    void queue.submit(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([[1, 2]]);
    // Queued while the run is in flight, 5 ms before it ends: it waits out the rest of its own linger.
    await vi.advanceTimersByTimeAsync(3);
    void queue.submit(3);
    await vi.advanceTimersByTimeAsync(5);
    await finishRun();
    expect(batches).toEqual([[1, 2]]);
    await vi.advanceTimersByTimeAsync(14);
    expect(batches).toEqual([[1, 2]]);
    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([[1, 2], [3]]);
  });

  it('with a linger, runs at once when the batch is full, when an input is urgent, or when someone waits for idle', async () => {
    const { queue, batches, finishRun } = recordingQueue({ maxBatch: 3, lingerMs: 1000 });
    void queue.submit(1);
    void queue.submit(2);
    expect(batches).toEqual([]);
    void queue.submit(3);
    expect(batches).toEqual([[1, 2, 3]]);
    void queue.submit(4);
    await finishRun();
    expect(batches).toEqual([[1, 2, 3]]);
    void queue.submit(5, { urgent: true });
    expect(batches).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
    await finishRun();
    void queue.submit(6);
    let idle = false;
    void queue.idle().then(() => (idle = true));
    expect(batches).toEqual([[1, 2, 3], [4, 5], [6]]);
    await vi.advanceTimersByTimeAsync(0);
    expect(idle).toBe(false);
    await finishRun();
    expect(idle).toBe(true);
  });

  it('a batch run early for idle() cancels its linger: what arrives next waits its own linger from its own arrival', async () => {
    const { queue, batches, finishRun } = recordingQueue({ maxBatch: 10, lingerMs: 20 });
    void queue.submit(1);
    void queue.idle();
    expect(batches).toEqual([[1]]);
    await finishRun();
    await vi.advanceTimersByTimeAsync(5);
    void queue.submit(2);
    // 20 ms after the first input: the linger it no longer needs must not start the second one's batch.
    await vi.advanceTimersByTimeAsync(19);
    expect(batches).toEqual([[1]]);
    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([[1], [2]]);
  });

  it('rejects an input its run returned no result for, and only that one', async () => {
    vi.useRealTimers();
    const queue = new GroupCommitQueue<number, number>(async (inputs) => [{ value: inputs[0]! }], { maxBatch: 10 });
    const first = queue.submit(1);
    const rest = [queue.submit(2), queue.submit(3)];
    await expect(first).resolves.toBe(1);
    await expect(rest[0]).resolves.toBe(2);
    await expect(rest[1]).rejects.toMatchObject({ message: 'the batch returned no result for this input' });
  });

  it('idle() asked during a run also runs what arrives after it without lingering, and resolves only when all is done', async () => {
    const { queue, batches, finishRun } = recordingQueue({ maxBatch: 10, lingerMs: 1000 });
    void queue.submit(1, { urgent: true });
    let idle = false;
    void queue.idle().then(() => (idle = true));
    void queue.submit(2);
    await finishRun();
    expect(batches).toEqual([[1], [2]]);
    expect(idle).toBe(false);
    await finishRun();
    expect(idle).toBe(true);
    await expect(queue.idle()).resolves.toBeUndefined();
  });

  it("gives each input its own result and a failed run's error to every input of that run", async () => {
    const queue = new GroupCommitQueue<number, number>(
      async (inputs) => {
        if (inputs.includes(0)) throw new Error('the run failed');
        return inputs.map((input) => (input < 0 ? { error: new Error(`refused ${input}`) } : { value: input }));
      },
      { maxBatch: 10 },
    );
    vi.useRealTimers();
    const results = await Promise.allSettled([queue.submit(1), queue.submit(-2), queue.submit(3)]);
    expect(results.map((result) => (result.status === 'fulfilled' ? result.value : (result.reason as Error).message))).toEqual([
      1,
      'refused -2',
      3,
    ]);
    await expect(queue.submit(0)).rejects.toMatchObject({ message: 'the run failed' });
  });

  it('publishes each finished batch of a named queue on the batch channel, and nothing for an unnamed one', async () => {
    vi.useRealTimers();
    const events: BatchEvent[] = [];
    const listener = (event: unknown) => events.push(event as BatchEvent);
    subscribe(batchChannel.name, listener);
    try {
      const finishers: Array<() => void> = [];
      const named = new GroupCommitQueue<number, number>(
        (inputs) => new Promise((resolve) => finishers.push(() => resolve(inputs.map((input) => ({ value: input }))))),
        { maxBatch: 10, name: 'captures' },
      );
      const first = named.submit(1);
      const rest = [named.submit(2), named.submit(3)];
      expect(events).toEqual([]);
      finishers.shift()!();
      await first;
      expect(events).toEqual([{ name: 'captures', size: 1, startedAt: expect.any(Number), endedAt: expect.any(Number) }]);
      finishers.shift()!();
      await Promise.all(rest);
      expect(events.map((event) => [event.name, event.size])).toEqual([
        ['captures', 1],
        ['captures', 2],
      ]);
      // Each batch ran from its start to its end: the second started once the first had ended.
      expect(events[0]!.endedAt).toBeGreaterThanOrEqual(events[0]!.startedAt);
      expect(events[1]!.startedAt).toBeGreaterThanOrEqual(events[0]!.endedAt);
      const unnamed = new GroupCommitQueue<number, number>(async (inputs) => inputs.map((input) => ({ value: input })), {
        maxBatch: 10,
      });
      await unnamed.submit(4);
      expect(events).toHaveLength(2);
    } finally {
      unsubscribe(batchChannel.name, listener);
    }
  });
});
