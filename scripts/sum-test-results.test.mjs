// scripts/sum-test-results.mjs: a package that ran zero tests fails the run.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

const script = path.join(path.dirname(new URL(import.meta.url).pathname), 'sum-test-results.mjs');
const roots = [];
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

const TAP_OK = '# pass 3\n# fail 0\n# skipped 0\n';

/** A fake repository: one package per entry of `vitest` (its report, or null for none). */
function repo(vitest, repoTap = TAP_OK) {
  const root = mkdtempSync(path.join(tmpdir(), 'sum-results-'));
  roots.push(root);
  for (const [name, report] of Object.entries(vitest)) {
    const dir = path.join(root, 'packages', name);
    mkdirSync(path.join(dir, '.test-results'), { recursive: true });
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, scripts: { test: 'vitest run' } }));
    if (report) writeFileSync(path.join(dir, '.test-results', 'vitest.json'), JSON.stringify(report));
  }
  writeFileSync(path.join(root, '.test-results-repo.tap'), repoTap);
  return root;
}

function report(passed, failed = 0, pending = 0) {
  return {
    numTotalTests: passed + failed + pending,
    numPassedTests: passed,
    numFailedTests: failed,
    numPendingTests: pending,
    numTodoTests: 0,
    testResults: [],
  };
}

function run(root) {
  try {
    return { code: 0, out: execFileSync(process.execPath, [script, root], { encoding: 'utf8' }) };
  } catch (error) {
    return { code: error.status, out: String(error.stdout) };
  }
}

describe('sum-test-results', () => {
  it('passes when every package ran tests and none failed', () => {
    const { code, out } = run(repo({ a: report(5), b: report(2, 0, 1) }));
    assert.equal(code, 0, out);
    assert.match(out, /^10 passed, 0 failed$/m);
  });

  it('fails a package that ran zero tests, naming it', () => {
    const { code, out } = run(repo({ a: report(5), empty: report(0) }));
    assert.equal(code, 1, out);
    assert.match(out, /empty: ran no tests/);
    assert.match(out, /^8 passed, 1 failed$/m);
  });

  it('fails a package whose every test was skipped', () => {
    const { code, out } = run(repo({ a: report(5), skipped: report(0, 0, 4) }));
    assert.equal(code, 1, out);
    assert.match(out, /skipped: ran no tests/);
  });

  it('fails a package that left no results, and repository checks that ran nothing', () => {
    assert.equal(run(repo({ a: report(1), gone: null })).code, 1);
    const { code, out } = run(repo({ a: report(1) }, '# pass 0\n# fail 0\n'));
    assert.equal(code, 1, out);
    assert.match(out, /ran no tests/);
  });

  it('counts a package tested with node:test alone from its TAP file, and fails it without one', () => {
    const root = repo({ a: report(2) });
    const dir = path.join(root, 'examples', 'demo');
    mkdirSync(path.join(dir, '.test-results'), { recursive: true });
    writeFileSync(
      path.join(dir, 'package.json'),
      JSON.stringify({ name: 'demo', scripts: { test: 'node --test t.mjs' } }),
    );
    assert.equal(run(root).code, 1, 'no TAP file yet');
    writeFileSync(path.join(dir, '.test-results', 'node-test.tap'), '# pass 4\n# fail 1\n');
    const { code, out } = run(root);
    assert.equal(code, 1, out);
    assert.match(out, /^9 passed, 1 failed$/m);
  });
});
