import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { spawnUntil, type ServerProcess } from './child-process.js';
import type { Target } from './load.js';

/** The chat completion every gateway benchmark sends (the mock answers it with its recorded completion). */
export const CHAT_REQUEST_BODY = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Invent a new holiday and describe its traditions.' }],
  max_tokens: 500,
});

/** The mock upstream called directly: what every gateway's figures are compared with. */
export function directTarget(upstreamUrl: string): Target {
  return {
    label: 'direct',
    url: `${upstreamUrl}/v1/chat/completions`,
    headers: { authorization: 'Bearer sk-anything' },
    body: CHAT_REQUEST_BODY,
  };
}

/**
 * The Portkey open-source gateway (`@portkey-ai/gateway`, headless, which bills nothing), started in its own
 * process and pointed at the mock, once it answers the chat completion with its usage.
 */
export async function startPortkey(
  upstreamUrl: string,
  nodeArguments: string[] = [],
): Promise<{ server: ServerProcess; target: Target }> {
  const port = await freePort();
  const target: Target = {
    label: 'portkey',
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    headers: {
      authorization: 'Bearer sk-anything',
      'x-portkey-provider': 'openai',
      'x-portkey-custom-host': `${upstreamUrl}/v1`,
    },
    body: CHAT_REQUEST_BODY,
  };
  // Portkey reads its port only as `--port=N` (build/start-server.js: argv.find(startsWith('--port='))).
  const server = await spawnUntil(
    process.execPath,
    [...nodeArguments, 'node_modules/@portkey-ai/gateway/build/start-server.js', `--port=${port}`, '--headless'],
    () => answersWithUsage(target).then(() => true),
  );
  return { server, target };
}

/** An account with a million USD of credits and its first key, made through tollgate's admin API. */
export async function createBenchAccount(url: string, adminKey: string): Promise<{ id: string; key: string }> {
  const response = await fetch(`${url}/admin/accounts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `bench-${randomBytes(4).toString('hex')}`, mode: 'consumption_usd', credits: '1000000' }),
  });
  const created = (await response.json()) as { account: { id: string }; api_key: { key: string } };
  if (!response.ok) throw new Error(`creating the benchmark account: ${response.status} ${JSON.stringify(created)}`);
  return { id: created.account.id, key: created.api_key.key };
}

/** @throws Error unless `target` answers the chat completion with the recording's usage. */
export async function answersWithUsage(target: Target): Promise<void> {
  const response = await fetch(target.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...target.headers },
    body: target.body,
  });
  const text = await response.text();
  const usage = response.ok
    ? (JSON.parse(text) as { usage?: { prompt_tokens?: number; completion_tokens?: number } }).usage
    : undefined;
  // The recording's counts (fixtures/provider-responses/openai/openai-chat-text.json): 16 in, 363 out.
  if (usage?.prompt_tokens !== 16 || usage.completion_tokens !== 363) {
    throw new Error(
      `${target.label}: expected the mock's completion with its usage, got ${response.status} ${text.slice(0, 300)}`,
    );
  }
}

/** A loopback port free at the time of asking. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
