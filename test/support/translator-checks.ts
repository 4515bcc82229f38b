import { vi } from 'vitest';
import { UpstreamError } from '../../src/providers/types.js';

/** What is thrown by `run` (an UpstreamError, else the error itself is rethrown), for checking its kind and message together. */
export function thrown(run: () => unknown): UpstreamError {
  try {
    run();
  } catch (error) {
    if (error instanceof UpstreamError) return error;
    throw error;
  }
  throw new Error('nothing was thrown');
}

/**
 * Fakes Date at 2026-01-01T00:00:00.250Z, so a stream translator's chunks are `created` 1_767_225_600 (the
 * whole second); the suite restores real timers after each test.
 */
export function atChunkTime(): void {
  vi.useFakeTimers({ now: Date.UTC(2026, 0, 1, 0, 0, 0, 250), toFake: ['Date'] });
}

/** A chunk as a stream translator builds it, at `atChunkTime()`. */
export const chunkOf = (id: string, model: string, delta: Record<string, unknown>, finish: string | null = null) => ({
  id,
  object: 'chat.completion.chunk',
  created: 1_767_225_600,
  model,
  choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
});
