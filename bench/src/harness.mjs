// The bench harness: measures ops/s of an async operation at a given concurrency and
// compares a subject with references in the same process, alternating runs
// (A B A B A B) and taking medians, because absolute figures drift on shared machines.

/** Options from the command line (set by main.mjs). */
export const settings = {
  durationMs: Number(process.env.BENCH_DURATION_MS ?? 1000),
  rounds: Number(process.env.BENCH_ROUNDS ?? 3),
  warmupMs: Number(process.env.BENCH_WARMUP_MS ?? 300),
};

const results = [];

/** Every row recorded so far: { store, op, concurrency, opsPerSec, reference, referenceOpsPerSec, ratio }. */
export function rows() {
  return results;
}

/**
 * Runs `fn(i)` from `concurrency` loops for `durationMs` and returns ops/s. `i` counts
 * operations across loops (0, 1, 2, …) so an op can pick its key.
 */
export async function opsPerSec(fn, { concurrency = 1, durationMs = settings.durationMs } = {}) {
  let next = 0;
  let done = 0;
  const start = performance.now();
  const end = start + durationMs;
  const loop = async () => {
    while (performance.now() < end) {
      await fn(next++);
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return (done * 1000) / (performance.now() - start);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Compares `subject` with each reference at one concurrency, alternating runs for
 * `rounds` rounds, and records one row per reference (ratio = subject / reference).
 *
 * @param {{ store: string, op: string, concurrency: number, subject: (i: number) => Promise<unknown>,
 *   references: { name: string, fn: (i: number) => Promise<unknown> }[], rounds?: number, durationMs?: number }} spec
 */
export async function compare(spec) {
  const { store, op, concurrency, subject, references } = spec;
  const rounds = spec.rounds ?? settings.rounds;
  const durationMs = spec.durationMs ?? settings.durationMs;
  const all = [{ name: 'subject', fn: subject }, ...references];
  for (const r of all) await opsPerSec(r.fn, { concurrency, durationMs: settings.warmupMs });
  const samples = all.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < all.length; k++) {
      samples[k].push(await opsPerSec(all[k].fn, { concurrency, durationMs }));
    }
  }
  const subjectOps = median(samples[0]);
  const out = [];
  for (let k = 1; k < all.length; k++) {
    const referenceOps = median(samples[k]);
    const row = {
      store,
      op,
      concurrency,
      opsPerSec: Math.round(subjectOps),
      reference: all[k].name,
      referenceOpsPerSec: Math.round(referenceOps),
      ratio: Number((subjectOps / referenceOps).toFixed(2)),
    };
    results.push(row);
    out.push(row);
    log(row);
  }
  if (references.length === 0) {
    const row = {
      store,
      op,
      concurrency,
      opsPerSec: Math.round(subjectOps),
      reference: null,
      referenceOpsPerSec: null,
      ratio: null,
    };
    results.push(row);
    out.push(row);
    log(row);
  }
  return out;
}

/**
 * Records a scaling row: the cost of `op` at a large size against the same op at a small
 * size (ratio = ops/s large / ops/s small; 1.0 means flat). Measure both with
 * {@link opsPerSec} yourself and pass the figures.
 */
export function scaling({ store, op, concurrency = 1, small, large, smallLabel, largeLabel }) {
  const row = {
    store,
    op: `${op} @ ${largeLabel}`,
    concurrency,
    opsPerSec: Math.round(large),
    reference: `${op} @ ${smallLabel}`,
    referenceOpsPerSec: Math.round(small),
    ratio: Number((large / small).toFixed(2)),
  };
  results.push(row);
  log(row);
  return row;
}

function log(row) {
  const ref = row.reference ? `  vs ${row.reference} ${fmt(row.referenceOpsPerSec)}  ratio ${row.ratio}` : '';
  process.stderr.write(`  ${row.store} ${row.op} c=${row.concurrency}: ${fmt(row.opsPerSec)} ops/s${ref}\n`);
}

export function fmt(n) {
  if (n === null || n === undefined) return '-';
  return n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : n >= 1000 ? `${(n / 1000).toFixed(2)}k` : String(Math.round(n));
}

const HOUR = 3_600_000;

/** The session record every store bench creates: one user in tenant `acme`, one hour long. */
export function sessionRecord(id, userId, now, metadata) {
  return {
    id,
    userId,
    tenantId: 'acme',
    transactionId: 'tx-1',
    factorsUsed: ['password', 'totp'],
    assuranceLevel: 2,
    metadata,
    createdAt: new Date(now),
    expiresAt: new Date(now + HOUR),
    lastActivityAt: new Date(now),
  };
}

/** The same session as an express-session store is handed it: the fields plus a cookie. */
export function expressSession(metadata, userId) {
  return {
    cookie: {
      originalMaxAge: HOUR,
      maxAge: HOUR,
      expires: new Date(Date.now() + HOUR).toISOString(),
      httpOnly: true,
      path: '/',
      secure: true,
      sameSite: 'lax',
    },
    userId,
    tenantId: 'acme',
    transactionId: 'tx-1',
    factorsUsed: ['password', 'totp'],
    assuranceLevel: 2,
    metadata,
  };
}

/** Promisifies a Node-style callback API call: `callback((done) => store.get(id, done))`. */
export const callback = (fn) =>
  new Promise((resolve, reject) => {
    fn((err, value) => (err ? reject(err) : resolve(value)));
  });

/** A ~1 KB metadata object, the payload every store is measured with. */
export function sampleMetadata() {
  return {
    ip: '203.0.113.42',
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
    locale: 'en-GB',
    roles: ['admin', 'billing', 'support', 'developer'],
    preferences: { theme: 'dark', density: 'compact', notifications: { email: true, sms: false, push: true } },
    cart: Array.from({ length: 8 }, (_, i) => ({ sku: `SKU-${1000 + i}`, qty: i + 1, price: 9.99 + i })),
    flags: { beta: true, mfaEnrolled: true, onboardingStep: 7 },
    csrf: 'b5f0c1b2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0',
    note: 'x'.repeat(200),
  };
}
