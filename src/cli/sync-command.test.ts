import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startFeedServer, type FeedServer } from '../../test/support/feed-server.js';
import { migrate, openDatabase } from '../db/database.js';
import { registerSyncCommand } from './sync-command.js';

const dataDirectory = mkdtempSync(path.join(tmpdir(), 'tollgate-sync-'));
let feeds: FeedServer;

beforeAll(async () => {
  feeds = await startFeedServer({ hangMs: 2_000 });
  const database = await openDatabase({ kind: 'pglite', dataDirectory });
  await migrate(database.db);
  await database.close();
});

afterAll(async () => {
  await feeds.close();
  rmSync(dataDirectory, { recursive: true, force: true });
});

/** Runs `tollgate catalog sync ...` in process; returns stdout, stderr and the exit code. */
async function run(...args: string[]) {
  const program = new Command('tollgate').option('--data-dir <dir>').exitOverride();
  registerSyncCommand(program);
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
  process.exitCode = undefined;
  try {
    await program.parseAsync(['--data-dir', dataDirectory, 'catalog', 'sync', ...args], { from: 'user' });
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  const code = process.exitCode ?? 0;
  process.exitCode = undefined;
  return { stdout, stderr, code };
}

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
