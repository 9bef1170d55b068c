// pnpm bench [--only=<store>] [--duration=<ms>] [--rounds=<n>]
// Runs each store's bench module (src/stores/<store>.mjs), and the HTTP end-to-end ones
// (src/http/<name>.mjs, e.g. --only=express), prints a table and writes
// bench/results.json (with --only, rows of other stores already in the file are kept).
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, rows, settings } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'];
  }),
);
if (args.duration) settings.durationMs = Number(args.duration);
if (args.rounds) settings.rounds = Number(args.rounds);

const ORDER = ['memory', 'redis', 'postgres', 'memcached', 'jwt', 'express'];
const modules = new Map(
  ['stores', 'http'].flatMap((dir) =>
    readdirSync(path.join(here, dir))
      .filter((f) => f.endsWith('.mjs') && !f.endsWith('-server.mjs'))
      .map((f) => [f.slice(0, -4), `./${dir}/${f}`]),
  ),
);
const available = [...modules.keys()].sort((a, b) => (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99));
const only = args.only ? args.only.split(',') : available;
for (const name of only) {
  if (!available.includes(name)) {
    console.error(`unknown store '${name}'; available: ${available.join(', ')}`);
    process.exit(2);
  }
}

for (const name of only) {
  process.stderr.write(`\n== ${name} (rounds ${settings.rounds} x ${settings.durationMs} ms, alternating) ==\n`);
  const mod = await import(modules.get(name));
  await mod.run();
}

const file = path.join(here, '..', 'results.json');
let previous = [];
if (args.only && existsSync(file)) {
  previous = JSON.parse(readFileSync(file, 'utf8')).filter((r) => !only.includes(r.store));
}
const all = [...previous, ...rows()];
writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);

const header = ['store', 'op', 'c', 'ops/s', 'reference', 'ref ops/s', 'ratio'];
const table = rows().map((r) => [
  r.store,
  r.op,
  String(r.concurrency),
  fmt(r.opsPerSec),
  r.reference ?? '-',
  fmt(r.referenceOpsPerSec),
  r.ratio === null ? '-' : r.ratio.toFixed(2),
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const row of table) console.log(line(row));
console.log(`\nwrote ${path.relative(process.cwd(), file)} (${all.length} rows)`);
