import type { Settled } from './group-commit.js';

export interface WriteRetryOptions {
  /** Whether an input that failed with this error is written again (the database unreachable, a race lost). */
  retryable(error: unknown): boolean;
  /** Asked before each wait: true once the writer gives up (shutdown), which leaves the failures as they are. */
  stopped(): boolean;
  /** The longest wait between two tries (default 2 s). */
  maxDelayMs?: number | undefined;
  /** Told once, before the first wait: the first retryable error and how many inputs wait. */
  waiting(error: unknown, inputs: number): void;
}

/**
 * Writes `inputs`, then those that failed with a retryable error again, as one write each time, after 25 ms
 * doubling to `maxDelayMs`, until none is left or the writer stops. Answers each input's last result, in order.
 * The capture writer and the usage recorder both wait out a database outage this way.
 */
export async function writeWithRetries<Input, Output>(
  inputs: Input[],
  write: (inputs: Input[]) => Promise<Array<Settled<Output>>>,
  options: WriteRetryOptions,
): Promise<Array<Settled<Output>>> {
  const results = await write(inputs);
  for (let attempt = 0; ; attempt += 1) {
    const retry = results.flatMap((result, index) => ('error' in result && options.retryable(result.error) ? [index] : []));
    if (retry.length === 0 || options.stopped()) break;
    if (attempt === 0) options.waiting((results[retry[0]!] as { error: unknown }).error, retry.length);
    await new Promise((resolve) => setTimeout(resolve, Math.min(options.maxDelayMs ?? 2_000, 25 * 2 ** attempt)));
    const again = await write(retry.map((index) => inputs[index]!));
    retry.forEach((index, position) => (results[index] = again[position]!));
  }
  return results;
}
