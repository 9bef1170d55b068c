// Repository checks (node:test): every store package has the standard shape, depends on
// core the way the family needs, and runs the conformance suite. A new store cannot
// forget any of it.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const read = (...p) => readFileSync(path.join(root, ...p), 'utf8');
const stores = readdirSync(path.join(root, 'packages')).filter((d) => d.startsWith('store-'));
const published = ['core', ...stores, 'manager', 'hono', 'express-session'];
const changesets = readdirSync(path.join(root, '.changeset'))
  .filter((f) => f.endsWith('.md') && f !== 'README.md')
  .map((f) => read('.changeset', f));

describe('repository shape', () => {
  it('has the five stores the project promises', () => {
    for (const s of ['store-memory', 'store-redis', 'store-postgres', 'store-memcached', 'store-jwt']) {
      assert.ok(stores.includes(s), `packages/${s} is missing`);
    }
  });

  for (const dir of stores) {
    describe(`packages/${dir}`, () => {
      const pkg = JSON.parse(read('packages', dir, 'package.json'));
      it('has the standard files', () => {
        for (const f of [
          'src/index.ts',
          'README.md',
          'package.json',
          'tsconfig.json',
          'tsup.config.ts',
          'vitest.config.ts',
          'test/conformance.test.ts',
        ]) {
          assert.ok(existsSync(path.join(root, 'packages', dir, f)), `${dir}/${f} is missing`);
        }
      });
      it('peer-depends on @sessionkit/core (workspace:^) and has it as a devDependency', () => {
        assert.equal(pkg.peerDependencies?.['@sessionkit/core'], 'workspace:^');
        assert.equal(pkg.devDependencies?.['@sessionkit/core'], 'workspace:^');
        assert.equal(pkg.dependencies?.['@sessionkit/core'], undefined, 'core must not be a regular dependency');
      });
      it('runs the conformance suite', () => {
        const tests = readdirSync(path.join(root, 'packages', dir, 'test')).filter((f) => f.endsWith('.ts'));
        const text = tests.map((f) => read('packages', dir, 'test', f)).join('\n');
        assert.match(text, /from '@sessionkit\/core\/testing'/);
        assert.match(text, /describeSessionStore\s*(<[^>]*>)?\(/);
      });
      it('README covers install, usage, options, capabilities and errors', () => {
        const readme = read('packages', dir, 'README.md');
        for (const [heading, name] of [
          [/^#+ .*install/im, 'Install'],
          [/^#+ .*(usage|quick start)/im, 'Usage'],
          [/^#+ .*options/im, 'Options'],
          [/^#+ .*capabilit/im, 'Capabilities'],
          [/^#+ .*errors/im, 'Errors'],
        ]) {
          assert.match(readme, heading, `${dir}/README.md has no "## ${name}" section (see CONTRIBUTING.md step 8)`);
        }
        assert.ok(readme.includes(pkg.name), 'README names the package');
      });
      it('keeps each source file to one concern: no src/ file over 360 lines', () => {
        const dirOf = path.join(root, 'packages', dir, 'src');
        const files = readdirSync(dirOf, { recursive: true }).filter((f) => /\.(ts|mts|mjs)$/.test(String(f)));
        for (const f of files) {
          const lines = read('packages', dir, 'src', String(f)).split('\n').length;
          assert.ok(lines <= 360, `${dir}/src/${f} has ${lines} lines: split it by concern (see CONTRIBUTING.md)`);
        }
      });
    });
  }

  for (const dir of published) {
    describe(`@sessionkit/${dir} package.json`, () => {
      const pkg = JSON.parse(read('packages', dir, 'package.json'));
      it('is publishable: exports with types first, files, sideEffects, ESM + CJS', () => {
        assert.equal(pkg.private, undefined);
        // core also ships the contract it implements (CONTRACT.md, linked from its README)
        assert.deepEqual(pkg.files, dir === 'core' ? ['dist', 'CONTRACT.md', 'LICENSE'] : ['dist', 'LICENSE']);
        assert.equal(pkg.sideEffects, false);
        assert.equal(pkg.exports['./package.json'], './package.json');
        for (const [key, entry] of Object.entries(pkg.exports)) {
          if (typeof entry === 'string') continue;
          for (const cond of ['import', 'require']) {
            assert.equal(Object.keys(entry[cond])[0], 'types', `exports["${key}"].${cond}: types must come first`);
          }
        }
        assert.match(pkg.scripts.build, /tsup/);
        assert.ok(pkg.scripts.test, 'has a test script');
        assert.ok(pkg.scripts.publint, 'has a publint script');
        assert.equal(pkg.scripts.attw, 'attw --pack .', 'has an attw script');
      });
      it('ships the MIT LICENSE and names its repository, homepage and bugs', () => {
        assert.equal(pkg.license, 'MIT');
        assert.equal(read('packages', dir, 'LICENSE'), read('LICENSE'));
        assert.equal(pkg.repository?.url, 'git+https://github.com/sessionkit/sessionkit.git');
        assert.equal(pkg.repository?.directory, `packages/${dir}`);
        assert.match(
          pkg.homepage ?? '',
          new RegExp(`^https://github\\.com/sessionkit/sessionkit/tree/main/packages/${dir}#readme$`),
        );
        assert.equal(pkg.bugs?.url, 'https://github.com/sessionkit/sessionkit/issues');
      });
      it('is in the API reference (typedoc.json), and its README says where that is', () => {
        const typedoc = JSON.parse(read('typedoc.json'));
        assert.ok(
          typedoc.entryPoints.includes(`packages/${dir}/src/index.ts`),
          `add packages/${dir}/src/index.ts to typedoc.json's entryPoints`,
        );
        assert.match(read('packages', dir, 'src', 'index.ts'), new RegExp(`@module ${pkg.name}\\n`));
        assert.match(
          read('packages', dir, 'README.md'),
          /## API reference[\s\S]*pnpm docs/,
          `${dir}/README.md needs an "## API reference" section that says to run \`pnpm docs\``,
        );
      });
      it("points to the contract (core's CONTRACT.md) from its README", () => {
        assert.match(
          read('packages', dir, 'README.md'),
          /CONTRACT\.md/,
          `${dir}/README.md does not mention CONTRACT.md: link https://github.com/sessionkit/sessionkit/blob/main/packages/core/CONTRACT.md`,
        );
      });
      it('comes with a changeset', () => {
        assert.ok(
          changesets.some((c) => c.includes(`"${pkg.name}"`)) ||
            existsSync(path.join(root, 'packages', dir, 'CHANGELOG.md')),
          `no changeset names ${pkg.name}`,
        );
      });
    });
  }

  it('keeps installs small: fast-check only as an optional peer of core, jose a caret range', () => {
    const core = JSON.parse(read('packages', 'core', 'package.json'));
    assert.equal(core.dependencies?.['fast-check'], undefined, 'fast-check must not be a dependency of core');
    assert.match(core.peerDependencies?.['fast-check'] ?? '', /^\^4/);
    assert.equal(core.peerDependenciesMeta?.['fast-check']?.optional, true);
    assert.ok(core.devDependencies?.['fast-check'], 'core tests itself with fast-check');
    // TypeScript's node10 resolution ignores "exports": typesVersions maps the subpath
    assert.deepEqual(core.typesVersions, { '*': { testing: ['./dist/testing/index.d.cts'] } });
    const jwt = JSON.parse(read('packages', 'store-jwt', 'package.json'));
    assert.match(
      jwt.dependencies.jose,
      /^\^6\./,
      'jose as a caret range, so an app with a newer jose 6 installs one copy',
    );
  });

  it("core's main entry never imports a test runner", () => {
    for (const f of readdirSync(path.join(root, 'packages/core/src')).filter((f) => f.endsWith('.ts'))) {
      assert.doesNotMatch(read('packages/core/src', f), /^import[^;]*from ['"](vitest|node:test|@jest)/m, f);
    }
    for (const f of readdirSync(path.join(root, 'packages/core/src/testing'))) {
      assert.doesNotMatch(
        read('packages/core/src/testing', f),
        /^import[^;]*from ['"](vitest|node:test|@jest)/m,
        `testing/${f}`,
      );
    }
  });

  it('pins the toolchain', () => {
    const pkg = JSON.parse(read('package.json'));
    assert.equal(pkg.packageManager, 'pnpm@12.4.2');
    assert.match(read('pnpm-lock.yaml'), /lockfileVersion/);
  });
});
