import { worstCaseTokenUsage } from '../pricing/quote.js';
import { GatewayError } from './errors.js';
import type { CallIntent } from './pipeline.js';

/**
 * The worst case of a call bounded by an output limit (chat, Responses, Messages, legacy completions): the
 * prompt and every output token the request allows, or the model's limit when it sets none. A request for
 * more output than the model can write is refused with a 400 naming the limit, rather than held (and maybe
 * refused with a 402) for output that can never come.
 */
export function tokenWorstCase(
  promptTokens: number,
  requested: { value: number | undefined; param: string },
): CallIntent['worstCase'] {
  return (resolution, defaults) => {
    const limit = resolution.maxOutputTokens;
    if (requested.value !== undefined && limit !== undefined && requested.value > limit) {
      throw new GatewayError(
        'invalid_request',
        `invalid request: ${requested.param} is ${requested.value}, but ${resolution.modelId ?? resolution.requested} ` +
          `writes at most ${limit} output tokens; ask for ${limit} or fewer`,
        requested.param,
      );
    }
    return worstCaseTokenUsage(resolution, promptTokens, requested.value ?? defaults.maxOutputTokens);
  };
}
