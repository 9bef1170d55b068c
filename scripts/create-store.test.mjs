// Repository check (node:test): the store template cannot rot. It generates a throwaway
// store with scripts/create-store into a temporary directory under .tmp/ (outside the
// workspace globs, so the lockfile and workspace stay as they are), then builds it,
// typechecks it, lints it with Biome and runs its tests, the conformance suite included;
// the directory is removed in `finally`. Needs core built (run.sh builds first).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const generator = path.join(root, 'scripts/create-store/index.mjs');
// The generated package's devDependencies, installed for store-memory (same list).
const toolchain = path.join(root, 'packages/store-memory/node_modules');

function run(command, args, cwd) {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

function withTempDir(fn) {
  mkdirSync(path.join(root, '.tmp'), { recursive: true });
  const dir = mkdtempSync(path.join(root, '.tmp', 'create-store-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('pnpm create-store', () => {
  it('refuses a bad name, a store that exists, and writes nothing then', () => {
    withTempDir((dir) => {
      for (const [name, why] of [
        ['Bad_Name', /lowercase letters, digits and single dashes/],
        ['9lives', /starting with a letter/],
        ['a--b', /single dashes/],
        ['store-x', /without the 'store-' prefix/],
        ['memory', /already exists/],
      ]) {
        const r = run(process.execPath, [generator, name, `--into=${dir}`], root);
        assert.equal(r.status, 1, `${name}: ${r.output}`);
        assert.match(r.output, why, name);
        assert.deepEqual(readdirSync(dir), [], `${name} wrote something`);
      }
      assert.equal(run(process.execPath, [generator], root).status, 2, 'no name: usage');
    });
  });

  it('generates a store that builds, typechecks, lints clean and passes its conformance suite', {
    timeout: 240_000,
  }, () => {
    assert.ok(
      existsSync(path.join(root, 'packages/core/dist/testing/index.js')),
      'build core first: pnpm exec turbo run build --filter=@sessionkit/core',
    );
    withTempDir((dir) => {
      // 'x-check' sorts after 'options': the generated imports must be ordered for any name.
      const gen = run(process.execPath, [generator, 'x-check', `--into=${dir}`], root);
      assert.equal(gen.status, 0, gen.output);
      const pkgDir = path.join(dir, 'store-x-check');
      const pkg = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
      assert.equal(pkg.name, '@sessionkit/store-x-check');
      for (const dep of Object.keys(pkg.devDependencies)) {
        assert.ok(existsSync(path.join(toolchain, dep)), `${dep} is not installed in ${toolchain}`);
      }
      symlinkSync(toolchain, path.join(pkgDir, 'node_modules'), 'dir');
      const bin = (tool) => path.join(pkgDir, 'node_modules/.bin', tool);

      const lint = run(path.join(root, 'node_modules/.bin/biome'), ['check', dir], root);
      assert.equal(lint.status, 0, `biome check:\n${lint.output}`);
      const build = run(bin('tsup'), [], pkgDir);
      assert.equal(build.status, 0, `tsup:\n${build.output}`);
      assert.ok(existsSync(path.join(pkgDir, 'dist/index.js')) && existsSync(path.join(pkgDir, 'dist/index.d.ts')));
      const types = run(bin('tsc'), ['--noEmit'], pkgDir);
      assert.equal(types.status, 0, `tsc:\n${types.output}`);
      const tests = run(bin('vitest'), ['run'], pkgDir);
      assert.equal(tests.status, 0, `vitest:\n${tests.output.slice(-6000)}`);
      const report = JSON.parse(readFileSync(path.join(pkgDir, '.test-results/vitest.json'), 'utf8'));
      assert.equal(report.numFailedTests, 0);
      assert.ok(report.numPassedTests >= 50, `only ${report.numPassedTests} tests passed`);
      const files = report.testResults.map((r) => path.basename(r.name));
      assert.ok(files.includes('conformance.test.ts'), `the conformance suite did not run: ${files}`);
    });
  });
});
