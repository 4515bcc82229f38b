/**
 * The console's one way to the server: the same HTTP API scripts use (/admin/..., /account/...), signed in
 * by the session cookie, which the browser sends and this code never sees (HttpOnly). Requests that change
 * something carry the session's CSRF token, which the server hands out with the session.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export type QueryValue = string | number | boolean | null | undefined;

let csrfToken: string | null = null;
let onSignedOut: (() => void) | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when the server says the session is gone (expired, signed out elsewhere, key revoked). */
export function onSessionEnded(listener: () => void): void {
  onSignedOut = listener;
}

export function withQuery(path: string, query: Record<string, QueryValue> = {}): string {
  const parameters = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') parameters.set(name, String(value));
  }
  const text = parameters.toString();
  return text ? `${path}?${text}` : path;
}

export async function api<T>(
  path: string,
  options: { method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'; body?: unknown; query?: Record<string, QueryValue> } = {},
): Promise<T> {
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-tollgate-csrf'] = csrfToken;
  const response = await fetch(withQuery(path, options.query), {
    method,
    headers,
    credentials: 'same-origin',
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  const text = await response.text();
  // Amounts arrive as decimal strings; JSON.parse never sees a money value as a number.
  const body: unknown = text === '' ? undefined : JSON.parse(text);
  if (!response.ok) {
    const error = (body as { error?: { message?: string; code?: string; param?: string | null } } | undefined)?.error;
    if (response.status === 401 && !path.startsWith('/console/api/session')) onSignedOut?.();
    throw new ApiError(
      response.status,
      error?.code ?? 'http_error',
      error?.message ?? `HTTP ${response.status}`,
      error?.param ?? null,
    );
  }
  return body as T;
}

/** A fresh key for a form's submission: a double click or a retried request replays instead of granting twice. */
export function newIdempotencyKey(): string {
  return `console-${crypto.randomUUID()}`;
}
