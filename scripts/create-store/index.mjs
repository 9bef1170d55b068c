#!/usr/bin/env node
// pnpm create-store <name> [--into=<dir>]
//
// Writes a new store package from ./template: a Map-backed SessionStore built on core's
// helpers that passes the conformance suite, its options, README, tests, build and test
// configs. By default it writes into this repository:
//   packages/store-<name>/             the package
//   bench/src/stores/<name>.mjs        a bench module (bench/package.json gains the dependency)
//   .changeset/store-<name>-initial.md the changeset
// With --into=<dir> it writes <dir>/store-<name>, <dir>/bench/<name>.mjs and
// <dir>/changeset.md and touches nothing else (the template check uses this).
// Next steps: CONTRIBUTING.md.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const templateDir = path.join(here, 'template');

/** Lowercase letters, digits and single dashes; starts with a letter; at most 40 characters. */
export function nameProblem(name) {
  if (typeof name !== 'string' || name === '') return 'give the store a name, for example: pnpm create-store sqlite';
  if (name.length > 40) return `'${name}' is longer than 40 characters`;
  if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(name)) {
    return `'${name}' must be lowercase letters, digits and single dashes, starting with a letter (e.g. 'sqlite', 'dynamo-db')`;
  }
  if (name.startsWith('store-')) return `'${name}': give the name without the 'store-' prefix`;
  return undefined;
}

/** 'dynamo-db' -> 'DynamoDb' (the class is DynamoDbSessionStore). */
export function pascalCase(name) {
  return name
    .split('-')
    .map((part) => part[0].toUpperCase() + part.slice(1))
    .join('');
}

function render(text, vars) {
  return text.replace(/__(name|Name|tsconfig_base)__/g, (_, key) => vars[key]);
}

function* templateFiles(dir, rel = '') {
  for (const entry of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const child = path.join(rel, entry.name);
    if (entry.isDirectory()) yield* templateFiles(dir, child);
    else if (entry.name.endsWith('.tmpl')) yield child;
  }
}

function write(file, text) {
  if (existsSync(file)) throw new Error(`${path.relative(process.cwd(), file)} already exists; nothing was written`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}

/**
 * Generates store `name`. Returns the files written. Throws (writing nothing) when the
 * name is bad or any target exists.
 */
export function createStore(name, { into } = {}) {
  const problem = nameProblem(name);
  if (problem) throw new Error(problem);
  const base = into ? path.resolve(into) : path.join(root, 'packages');
  const pkgDir = path.join(base, `store-${name}`);
  const existing = readdirSync(path.join(root, 'packages'));
  if (existing.includes(`store-${name}`) || existsSync(pkgDir)) {
    throw new Error(`store-${name} already exists (packages/store-${name}); pick another name`);
  }
  const benchFile = into ? path.join(base, 'bench', `${name}.mjs`) : path.join(root, 'bench/src/stores', `${name}.mjs`);
  const changesetFile = into
    ? path.join(base, 'changeset.md')
    : path.join(root, '.changeset', `store-${name}-initial.md`);
  for (const f of [benchFile, changesetFile]) {
    if (existsSync(f)) throw new Error(`${f} already exists; nothing was written`);
  }
  const vars = {
    name,
    Name: pascalCase(name),
    tsconfig_base: path.relative(pkgDir, path.join(root, 'tsconfig.base.json')).split(path.sep).join('/'),
  };
  const outputs = [];
  for (const rel of templateFiles(templateDir)) {
    const text = render(readFileSync(path.join(templateDir, rel), 'utf8'), vars);
    const target =
      rel === 'bench.mjs.tmpl'
        ? benchFile
        : rel === 'changeset.md.tmpl'
          ? changesetFile
          : path.join(pkgDir, render(rel, vars).slice(0, -'.tmpl'.length));
    outputs.push([target, text]);
  }
  // Every published package ships the repository's MIT license.
  outputs.push([path.join(pkgDir, 'LICENSE'), readFileSync(path.join(root, 'LICENSE'), 'utf8')]);
  for (const [target, text] of outputs) write(target, text);
  if (!into) {
    // The API reference has one entry point per published package.
    const typedocFile = path.join(root, 'typedoc.json');
    const typedoc = JSON.parse(readFileSync(typedocFile, 'utf8'));
    typedoc.entryPoints.push(`packages/store-${name}/src/index.ts`);
    writeFileSync(typedocFile, `${JSON.stringify(typedoc, null, 2)}\n`);
    outputs.push([typedocFile]);
    // The bench package depends on every store it measures.
    const benchPkgFile = path.join(root, 'bench/package.json');
    const benchPkg = JSON.parse(readFileSync(benchPkgFile, 'utf8'));
    // In name order, as pnpm writes dependencies.
    const deps = { ...benchPkg.dependencies, [`@sessionkit/store-${name}`]: 'workspace:*' };
    benchPkg.dependencies = Object.fromEntries(Object.entries(deps).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    writeFileSync(benchPkgFile, `${JSON.stringify(benchPkg, null, 2)}\n`);
    outputs.push([benchPkgFile]);
  }
  // Biome lays out what the names changed (import order, table widths, line lengths) the
  // project's way: safe fixes and formatting only; the lint itself is left to `biome check`.
  const files = outputs.map(([f]) => f);
  const biome = path.join(root, 'node_modules/.bin/biome');
  const checkable = files.filter((f) => !f.startsWith(path.join(root, '.changeset')) && !f.endsWith('LICENSE'));
  try {
    execFileSync(biome, ['check', '--write', ...checkable], { cwd: root, stdio: 'ignore' });
  } catch {
    // a remaining lint finding: `pnpm exec biome check` shows it
  }
  return files;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const into = args.find((a) => a.startsWith('--into='))?.slice('--into='.length);
  const names = args.filter((a) => !a.startsWith('--'));
  if (names.length !== 1 || args.some((a) => a.startsWith('--') && !a.startsWith('--into='))) {
    console.error('usage: pnpm create-store <name> [--into=<dir>]');
    process.exit(2);
  }
  try {
    const files = createStore(names[0], { into });
    for (const f of files) console.log(`wrote ${path.relative(process.cwd(), f)}`);
    if (!into) {
      console.log(`
Next (CONTRIBUTING.md has every step):
  pnpm install
  pnpm exec turbo run build --filter=@sessionkit/store-${names[0]}...
  pnpm --filter @sessionkit/store-${names[0]} test`);
    }
  } catch (error) {
    console.error(`create-store: ${error.message}`);
    process.exit(1);
  }
}
