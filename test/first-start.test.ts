import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { silentLogger } from '../src/logging/logger.js';
import { startGateway } from '../src/main.js';
import { Decimal } from '../src/money/decimal.js';

/**
 * The main job on a fresh machine, as `tollgate serve` runs it with no configuration: embedded PGlite in a
 * data directory, migrations, the catalog seeded from the shipped files, a demo account and an admin key
 * shown once, and a priced call that works at once through the demo provider. A restart keeps all of it.
 */
describe('first start with no configuration', () => {
  const dataDirectory = mkdtempSync(path.join(os.tmpdir(), 'tollgate-first-start-'));
  afterAll(() => rmSync(dataDirectory, { recursive: true, force: true }));
  // Only the data directory and port differ from a bare `tollgate serve`.
  const config = loadConfig({ TOLLGATE_DATA_DIR: dataDirectory, TOLLGATE_LOG_LEVEL: 'silent', TOLLGATE_SYNC_CRON: 'off' });

  it('seeds over 1,500 priced models, prints credentials once, and answers a priced call', async () => {
    expect(config.database.kind).toBe('pglite');
    const gateway = await startGateway(config, silentLogger());
    try {
      expect(gateway.seeded?.models).toBeGreaterThan(1500);
      expect(gateway.catalog.modelCount).toBeGreaterThan(1500);
      for (const model of ['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4-5', 'nosana/meta-llama/Llama-3.3-70B-Instruct']) {
        expect(gateway.catalog.resolve(model)?.match, model).toBe('exact');
      }
      // A bare Gemini name is called on the Gemini API, and priced by its listing there, not Vertex AI's.
      expect(gateway.catalog.resolve('gemini-2.5-flash')).toMatchObject({ modelId: 'gemini/gemini-2.5-flash', match: 'prefix' });
      expect(gateway.catalog.resolve('gpt-4o')?.price.rates.input.toString()).toBe('0.0000025');
      const demo = gateway.firstStart.demoAccount!;
      expect(demo.key).toMatch(/^tg_/);
      expect(gateway.firstStart.adminKey).toMatch(/^tg_/);

      const address = await gateway.app.listen({ host: '127.0.0.1', port: 0 });
      const client = new OpenAI({ baseURL: `${address}/v1`, apiKey: demo.key, maxRetries: 0 });
      const completion = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Say hello' }],
        max_tokens: 50,
      });
      expect(completion.choices[0]?.message.content).toBeTruthy();
      const charge = (completion.usage as unknown as { tollgate: { charge: string } }).tollgate.charge;
      // The capture is written just after the response (credit leases): wait for it.
      await gateway.reservations.flush();
      const account = await gateway.ledger.getAccount(demo.id);
      expect(account.balance.toString()).toBe(Decimal.parse('10').sub(Decimal.parse(charge)).toString());
    } finally {
      await gateway.close();
    }
  });

  it('a restart on the same directory reseeds nothing and shows no new credentials', async () => {
    const gateway = await startGateway(config, silentLogger());
    try {
      expect(gateway.seeded).toBeUndefined();
      expect(gateway.firstStart).toEqual({});
      expect(gateway.catalog.modelCount).toBeGreaterThan(1500);
    } finally {
      await gateway.close();
    }
  });
});
