// fast-check is an optional peer dependency: a plain install of @sessionkit/core does not
// get it. This installs the built package into a temporary node_modules without
// fast-check and checks that /testing still loads and registers the suite, and that a
// property test fails with a message saying how to install it.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'sessionkit-no-fast-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const script = (entry: string) => `
const { describeSessionStore } = ${entry};
const { MapSessionStore } = await import('./test/fixtures/map-store.mjs');
const tests = [];
const it = (name, fn) => tests.push({ name, fn });
it.skip = () => {};
describeSessionStore({ name: 'map', create: (o) => new MapSessionStore(o), runner: { describe: (_n, fn) => fn(), it } });
const property = tests.filter((t) => t.name.startsWith('property'));
if (property.length === 0) throw new Error('no property tests registered');
try { await property[0].fn(); console.log('NO ERROR'); } catch (e) { console.log('ERROR ' + e.message); }
`;

describe('without fast-check installed', () => {
  const pkg = join(dir, 'node_modules', '@sessionkit', 'core');
  mkdirSync(pkg, { recursive: true });
  cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
  cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true });
  mkdirSync(join(dir, 'test', 'fixtures'), { recursive: true });
  cpSync(join(root, 'test', 'fixtures', 'map-store.mjs'), join(dir, 'test', 'fixtures', 'map-store.mjs'));
  cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true });

  for (const [kind, entry] of [
    ['ESM', "await import('@sessionkit/core/testing')"],
    ['CJS', "(await import('node:module')).createRequire(import.meta.url)('@sessionkit/core/testing')"],
  ] as const) {
    it(`/testing (${kind}) loads, and a property test says to install fast-check`, () => {
      const file = join(dir, `run-${kind}.mjs`);
      writeFileSync(file, script(entry));
      const out = execFileSync(process.execPath, [file], { cwd: dir, encoding: 'utf8' });
      expect(out).toContain('ERROR @sessionkit/core/testing');
      expect(out).toContain('npm install --save-dev fast-check');
    });
  }
});
