import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixture = (name: string) => path.join(root, 'fixtures/seed-formats', name);
let dataDirectory: string;

/** Runs `tollgate <args>` as a user would, on its own PGlite data directory. */
function tollgate(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: root,
    env: { ...process.env, TOLLGATE_DATA_DIR: dataDirectory, DATABASE_URL: '' },
    encoding: 'utf8',
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('tollgate catalog commands', () => {
  beforeAll(() => {
    dataDirectory = mkdtempSync(path.join(os.tmpdir(), 'tollgate-catalog-cli-'));
  });
  afterAll(() => {
    rmSync(dataDirectory, { recursive: true, force: true });
  });

  it("runs the seed's story from the command line", () => {
    const imported = tollgate('catalog', 'models', 'import', fixture('catalog_models.json'), '--json');
    expect(imported.code).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ inserted: 10, unchanged: 0 });

    const dryRun = tollgate('catalog', 'seed', fixture('manual_pricing.json'));
    expect(dryRun.code).toBe(0);
    expect(dryRun.stdout).toContain('variant: nosana/whisper-large-v3 -> nosana/openai/whisper-large-v3');
    expect(dryRun.stdout).toContain('dry run: nothing written');
    expect(dryRun.stdout).not.toContain('seeding ['); // no progress bar when piped

    const executed = tollgate('catalog', 'seed', fixture('manual_pricing.json'), '--execute', '--json');
    expect(executed.code).toBe(0);
    const report = JSON.parse(executed.stdout);
    expect(report.sources[0]).toMatchObject({ inserted: 9, skippedZeroPrice: 1, skippedNotInCatalog: 165 });
    expect(report.coverage).toMatchObject({ active: 10, priced: 9, percent: '90.00' });

    const again = JSON.parse(tollgate('catalog', 'seed', fixture('manual_pricing.json'), '--execute', '--json').stdout);
    expect(again.sources[0]).toMatchObject({ inserted: 0, updated: 0, unchanged: 9 });
    expect(again.written).toEqual({ models: 0, versions: 0, closed: 0 });

    const coverage = tollgate('catalog', 'coverage');
    expect(coverage.code).toBe(1);
    expect(coverage.stdout).toContain('coverage: 9 of 10 active models priced (90.00%)');
    expect(coverage.stdout).toContain('unpriced: nosana/stabilityai/stable-diffusion-xl-base-1.0');
  });

  it('prints a price with exact rates, its source and version', () => {
    const price = tollgate('catalog', 'price', 'nosana/meta-llama/Llama-3.3-70B-Instruct', '--json');
    expect(price.code).toBe(0);
    const body = JSON.parse(price.stdout);
    expect(body).toMatchObject({
      modelId: 'nosana/meta-llama/Llama-3.3-70B-Instruct',
      source: 'manual-pricing:manual_pricing.json',
      rates: { input: '0.0000009', output: '0.0000009' },
      effectiveUntil: null,
    });
    expect(typeof body.version).toBe('number');
    const before = tollgate('catalog', 'price', 'nosana/meta-llama/Llama-3.3-70B-Instruct', '--at', '2020-01-01T00:00:00Z');
    expect(before.code).toBe(1);
    expect(before.stderr).toContain('no price for nosana/meta-llama/Llama-3.3-70B-Instruct at 2020-01-01T00:00:00.000Z');
    expect(tollgate('catalog', 'price', 'x', '--at', 'yesterday').code).toBe(2);
  });

  it('exits 1 when an entry has an error, 2 for unreadable files or unknown formats', () => {
    const bad = path.join(dataDirectory, 'bad.json');
    spawnSync('sh', [
      '-c',
      `printf '%s' '{"nosana": {"meta-llama/Llama-3.1-8B-Instruct": {"prompt": "-1", "completion": "1"}}}' > ${bad}`,
    ]);
    const seeded = tollgate('catalog', 'seed', bad);
    expect(seeded.code).toBe(1);
    expect(seeded.stdout).toContain(
      `error: ${bad}: model nosana/meta-llama/Llama-3.1-8B-Instruct, field prompt: negative price (got "-1")`,
    );
    expect(tollgate('catalog', 'seed', path.join(dataDirectory, 'missing.json')).code).toBe(2);
    const format = tollgate('catalog', 'seed', '--format', 'csv', fixture('manual_pricing.json'));
    expect(format.code).toBe(2);
    expect(format.stderr).toContain('unknown format "csv"');
    expect(tollgate('catalog', 'seed', '--dry-run', '--execute', fixture('manual_pricing.json')).code).toBe(2);
  });

  it('validates files with exit 0 or 1 and one line per problem', () => {
    const valid = tollgate('catalog', 'validate', fixture('llm_pricing_current.json'));
    expect(valid.code).toBe(0);
    expect(valid.stdout).toBe('valid: 1 file(s), 37 priced models, 0 problem(s)\n');
    const invalid = tollgate(
      'catalog',
      'validate',
      fixture('manual_pricing.json'),
      '--critical',
      'gpt-4o,nosana/whisper-large-v3',
    );
    expect(invalid.code).toBe(1);
    expect(invalid.stdout.trim().split('\n')).toEqual([
      `error ${fixture('manual_pricing.json')}: model gpt-4o: critical model gpt-4o is not priced`,
      'invalid: 1 file(s), 175 priced models, 1 problem(s)',
    ]);
  });
});
