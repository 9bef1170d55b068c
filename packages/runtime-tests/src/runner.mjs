// A tiny describe/it runner for the bundle: the runtimes under test have no vitest. It
// collects tests while the suite registers them, then runs them one at a time, each with
// a timeout, and returns one result per test (passed, failed with the error, skipped).

const root = { names: [], tests: [] };
let current = root;

export function describe(name, fn) {
  const parent = current;
  current = { names: [...parent.names, name], tests: parent.tests };
  try {
    fn();
  } finally {
    current = parent;
  }
}

export function it(name, fn) {
  root.tests.push({ name: [...current.names, name].join(' > '), fn, skip: false });
}
it.skip = (name, fn) => {
  root.tests.push({ name: [...current.names, name].join(' > '), fn, skip: true });
};

function describeError(error) {
  if (!(error instanceof Error)) return String(error);
  const frames = (error.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
  return [`${error.name}: ${error.message}`, ...frames.slice(0, 5)].join('\n');
}

async function withTimeout(fn, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`test timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([Promise.resolve().then(fn), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs every registered test in order: [{ name, status, ms, error? }]. */
export async function runAll({ timeoutMs = 20_000 } = {}) {
  const results = [];
  for (const test of root.tests) {
    if (test.skip) {
      results.push({ name: test.name, status: 'skipped', ms: 0 });
      continue;
    }
    const start = performance.now();
    try {
      await withTimeout(test.fn, timeoutMs);
      results.push({ name: test.name, status: 'passed', ms: Math.round(performance.now() - start) });
    } catch (error) {
      results.push({
        name: test.name,
        status: 'failed',
        ms: Math.round(performance.now() - start),
        error: describeError(error),
      });
    }
  }
  return results;
}
