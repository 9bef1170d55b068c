// Sums every package's test results (vitest JSON reports and node:test TAP files) and
// prints one line: "N passed, M failed". A package with a test script that left no
// results, or whose results show no test that ran (zero tests, or every one skipped),
// counts as a failure: CI must not stay green when a package's tests did not run.
// Usage: node scripts/sum-test-results.mjs [repository root] (default: this repository).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = process.argv[2]
  ? path.resolve(process.argv[2])
  : path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
let passed = 0;
let failed = 0;
let skipped = 0;
const problems = [];

function readTap(file) {
  const text = readFileSync(file, 'utf8');
  const pass = Number(/^# pass (\d+)/m.exec(text)?.[1] ?? Number.NaN);
  const fail = Number(/^# fail (\d+)/m.exec(text)?.[1] ?? Number.NaN);
  const skip = Number(/^# skipped (\d+)/m.exec(text)?.[1] ?? 0);
  const cancelled = Number(/^# cancelled (\d+)/m.exec(text)?.[1] ?? 0);
  if (Number.isNaN(pass) || Number.isNaN(fail)) {
    problems.push(`${path.relative(root, file)}: no summary (did the run finish?)`);
    failed += 1;
    return;
  }
  passed += pass;
  failed += fail + cancelled;
  skipped += skip;
  if (pass + fail + cancelled === 0) {
    problems.push(`${path.relative(root, file)}: ran no tests`);
    failed += 1;
  }
}

// packages/* and the examples that have tests (examples/express-app's browser test)
const packages = ['packages', 'examples']
  .filter((parent) => existsSync(path.join(root, parent)))
  .flatMap((parent) => readdirSync(path.join(root, parent)).map((d) => path.join(root, parent, d)));
for (const dir of packages) {
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  if (!pkg.scripts?.test) continue;
  const results = path.join(dir, '.test-results');
  const vitest = path.join(results, 'vitest.json');
  if (!pkg.scripts.test.includes('vitest') && pkg.scripts.test.includes('node --test')) {
    // a package tested with node:test alone (examples/quickstart): its TAP file only
    const tap = path.join(results, 'node-test.tap');
    if (existsSync(tap)) readTap(tap);
    else {
      problems.push(`${pkg.name}: no node:test results (its tests did not run or crashed)`);
      failed += 1;
    }
    continue;
  }
  if (!existsSync(vitest)) {
    problems.push(`${pkg.name}: no test results (its tests did not run or crashed)`);
    failed += 1;
    continue;
  }
  const report = JSON.parse(readFileSync(vitest, 'utf8'));
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  skipped += report.numPendingTests + (report.numTodoTests ?? 0);
  // a file that failed outside any test (an import error, a beforeAll whose server could not start)
  for (const file of report.testResults ?? []) {
    const testFailures = (file.assertionResults ?? []).filter((a) => a.status === 'failed').length;
    if (file.status === 'failed' && testFailures === 0) {
      failed += 1;
      problems.push(
        `${pkg.name}: ${path.relative(dir, file.name)} failed outside a test: ${(file.message ?? '').split('\n')[0]}`,
      );
    }
  }
  if (report.numPassedTests + report.numFailedTests === 0) {
    problems.push(
      `${pkg.name}: ran no tests (${report.numTotalTests} found, ${report.numPendingTests} skipped): counted as a failure`,
    );
    failed += 1;
  }
  if (pkg.scripts.test.includes('node --test')) {
    const tap = path.join(results, 'node-test.tap');
    if (existsSync(tap)) readTap(tap);
    else {
      problems.push(`${pkg.name}: no node:test results`);
      failed += 1;
    }
  }
}
const repoTap = path.join(root, '.test-results-repo.tap');
if (existsSync(repoTap)) readTap(repoTap);
else {
  problems.push('repository checks: no results');
  failed += 1;
}

for (const p of problems) console.log(`  ! ${p}`);
if (skipped) console.log(`  (${skipped} skipped by capability, named in each package's report)`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
