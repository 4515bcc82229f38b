import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliHarness } from '../../test/support/cli-harness.js';
import { startFeedServer, type FeedServer } from '../../test/support/feed-server.js';
import { registerSyncCommand } from './sync-command.js';

/** `tollgate catalog sync ...` on a data directory of its own. */
const cli = cliHarness({ prefix: 'tollgate-sync-', register: registerSyncCommand, command: ['catalog', 'sync'] });
const run = cli.run;
let feeds: FeedServer;

beforeAll(async () => {
  feeds = await startFeedServer({ hangMs: 2_000 });
  await cli.prepare();
});

afterAll(async () => {
  await feeds.close();
  cli.remove();
});

describe('tollgate catalog sync', () => {
  it('is a dry run by default: lists the new models and writes nothing', async () => {
    const { stdout, code } = await run('--source', 'openrouter', '--url', feeds.url('openrouter-models.json'));
    expect(code).toBe(0);
    expect(stdout).toContain('openrouter sync (dry run)');
    expect(stdout).toContain('6 entries: 0 changed, 0 unchanged, 0 held back, 5 new, 0 gone, 0 zero-priced skipped');
    expect(stdout).toContain('openrouter/openai/gpt-4o ');
    expect(stdout).toContain('dry run: nothing was written');
  });

  it('--execute applies a doubled price and prints the ratio; a 1000x mistake exits 1', async () => {
    const base = feeds.url('openrouter-models.json');
    expect((await run('--source', 'openrouter', '--url', base, '--execute', '--register-new-models')).code).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const doubled = await run('--source', 'openrouter', '--url', feeds.url('openrouter-price-doubled.json'), '--execute');
    expect(doubled.code).toBe(0);
    expect(doubled.stdout).toContain('input 0.0000025 -> 0.000005 (x2.0000)');
    const mistake = await run('--source', 'openrouter', '--url', feeds.url('openrouter-unit-mistake.json'), '--json');
    expect(mistake.code).toBe(1);
    const result = JSON.parse(mistake.stdout);
    expect(result.heldBack[0]).toMatchObject({ modelId: 'openrouter/openai/gpt-4o-mini' });
    expect(result.heldBack[0].rates[0]).toEqual({ rate: 'input', old: '0.00000015', new: '0.00015', ratio: '1000.0000' });
  });

  it('exits 1 with the reason when the feed is malformed, and 2 for contradictory flags', async () => {
    const malformed = await run('--source', 'openrouter', '--url', feeds.url('openrouter-malformed.json'), '--execute');
    expect(malformed.code).toBe(1);
    expect(malformed.stdout).toContain('openrouter sync failed (executed, nothing changed)');
    expect(malformed.stdout).toContain('malformed JSON');
    const both = await run('--source', 'openrouter', '--dry-run', '--execute');
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('choose one of --dry-run and --execute');
  });
});
