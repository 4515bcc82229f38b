// `npm run test:mutation [-- scope...]`: runs Stryker for each scope of stryker.config.mjs (all by default),
// one after another, then prints the mutation score of each from its JSON report. Slow: minutes per scope on
// two cores, less on a second run (incremental).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

const ALL = ['money', 'pricing', 'ledger', 'gateway', 'db', 'providers', 'translators', 'native'];
const scopes = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ALL;
for (const scope of scopes) {
  if (!ALL.includes(scope)) {
    console.error(`unknown scope ${scope}: use ${ALL.join(', ')}`);
    process.exit(2);
  }
}

const environment = { ...process.env };
// The suites run on one backend (see stryker.config.mjs): PostgreSQL when TEST_DATABASE_URL is set (a copy of
// its migrated template is quicker to make than a PGlite, which every mutant's run would start), else PGlite.
if (environment.TEST_DATABASE_URL) environment.TOLLGATE_TEST_BACKENDS = 'postgres';
let failed = false;
for (const scope of scopes) {
  console.log(`\n=== mutation testing: ${scope} ===`);
  const run = spawnSync('npx', ['stryker', 'run'], { stdio: 'inherit', env: { ...environment, TOLLGATE_MUTATION_SCOPE: scope } });
  if (run.status !== 0) failed = true;
}

console.log('\nscope      files  mutants  killed  timeout  survived  no cover  score');
for (const scope of scopes) {
  const file = `reports/mutation/${scope}/mutation.json`;
  if (!existsSync(file)) {
    console.log(`${scope.padEnd(10)} (no report)`);
    continue;
  }
  const report = JSON.parse(readFileSync(file, 'utf8'));
  const counts = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0 };
  let mutants = 0;
  for (const entry of Object.values(report.files)) {
    for (const mutant of entry.mutants) {
      if (mutant.status in counts) counts[mutant.status] += 1;
      mutants += 1;
    }
  }
  const detected = counts.Killed + counts.Timeout;
  const valid = detected + counts.Survived + counts.NoCoverage;
  const score = valid === 0 ? 'n/a' : `${((100 * detected) / valid).toFixed(2)}%`;
  const row = [
    scope.padEnd(10),
    String(Object.keys(report.files).length).padStart(5),
    String(mutants).padStart(8),
    String(counts.Killed).padStart(7),
    String(counts.Timeout).padStart(8),
    String(counts.Survived).padStart(9),
    String(counts.NoCoverage).padStart(9),
    score.padStart(7),
  ];
  console.log(row.join(' '));
}
process.exit(failed ? 1 : 0);
