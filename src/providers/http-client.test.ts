import { describe, expect, it } from 'vitest';
import { statusError } from './http-client.js';

describe('statusError', () => {
  const post = { providerId: 'openai', apiKey: 'sk-secret-0123456789' };

  it.each([
    [401, 'authentication', 502, false],
    [403, 'authentication', 502, false],
    [404, 'not_found', 502, false],
    [408, 'timeout', 504, true],
    [422, 'bad_request', 400, false],
    [429, 'rate_limited', 429, true],
    [503, 'server_error', 502, true],
    [529, 'server_error', 502, true],
  ])('maps %i to %s (gateway status %i)', (status, kind, gatewayStatus, retryable) => {
    const error = statusError(status, '{"error":{"message":"nope"}}', post);
    expect([error.kind, error.status, error.upstreamStatus, error.retryable]).toEqual([kind, gatewayStatus, status, retryable]);
    expect(error.message).toBe(`openai answered ${status}: nope`);
  });

  it('never repeats the API key the upstream echoed', () => {
    const body = JSON.stringify({ error: { message: 'Incorrect API key provided: sk-secret-0123456789.' } });
    expect(statusError(401, body, post).message).toBe('openai answered 401: Incorrect API key provided: [redacted].');
  });

  it('keeps the start of a body that is not JSON', () => {
    expect(statusError(502, '<html>Bad gateway</html>', post).message).toBe('openai answered 502: <html>Bad gateway</html>');
    expect(statusError(500, '', post).message).toBe('openai answered 500: (empty body)');
  });
});
