import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { OperationDeadlines, SessionError, withTimeout } from '../src/index.js';

const never = () => new Promise<never>(() => {});
const later = <T>(ms: number, value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));

async function rejection(p: Promise<unknown>): Promise<SessionError> {
  try {
    await p;
  } catch (error) {
    expect(SessionError.isInstance(error)).toBe(true);
    return error as SessionError;
  }
  throw new Error('expected a rejection');
}

describe('OperationDeadlines', () => {
  it('resolves with the value of work that settles in time, and leaves nothing pending', async () => {
    const d = new OperationDeadlines(1000, 'test');
    await expect(d.wrap('get', Promise.resolve(42))).resolves.toBe(42);
    await expect(d.wrap('get', later(5, 'x'))).resolves.toBe('x');
    expect(d.pending).toBe(0);
    d.stop();
  });

  it('rejects STORAGE with a cause once ms have passed, exactly as withTimeout does', async () => {
    const d = new OperationDeadlines(30, 'redis');
    const started = performance.now();
    const error = await rejection(d.wrap('create', never()));
    expect(performance.now() - started).toBeGreaterThanOrEqual(29);
    const reference = await rejection(withTimeout(never(), 30, 'redis', 'create'));
    expect(error.code).toBe('STORAGE');
    expect(error.message).toBe(reference.message);
    expect(error.message).toBe('[sessionkit/redis] create: backend did not answer within operationTimeoutMs (30 ms)');
    expect(error.store).toBe('redis');
    expect(error.operation).toBe('create');
    expect((error.cause as Error).message).toBe('timed out after 30 ms');
    expect(d.pending).toBe(0);
  });

  it("wraps work's own failure as STORAGE with the cause; a SessionError passes through", async () => {
    const d = new OperationDeadlines(1000, 'pg');
    const boom = new Error('ECONNRESET');
    const error = await rejection(d.wrap('get', Promise.reject(boom)));
    expect(error.code).toBe('STORAGE');
    expect(error.cause).toBe(boom);
    expect(error.operation).toBe('get');
    const own = new SessionError('CONFLICT', 'exists', { store: 'pg', operation: 'create' });
    expect(await rejection(d.wrap('create', Promise.reject(own)))).toBe(own);
    d.stop();
  });

  it('times out exactly the operations still pending, in any order of settling, all within the bound', async () => {
    const d = new OperationDeadlines(50, 'test');
    const started = performance.now();
    const outcomes = await Promise.allSettled(
      Array.from({ length: 300 }, (_, i) =>
        d.wrap(`op${i}`, i % 3 === 0 ? never() : later(i % 7 === 0 ? 0 : (i * 13) % 30, i)),
      ),
    );
    for (const [i, o] of outcomes.entries()) {
      if (i % 3 === 0) {
        expect(o.status).toBe('rejected');
        expect(((o as PromiseRejectedResult).reason as SessionError).operation).toBe(`op${i}`);
      } else expect(o).toEqual({ status: 'fulfilled', value: i });
    }
    // Bounded: generous, since other work shares the machine.
    expect(performance.now() - started).toBeLessThan(5000);
    expect(d.pending).toBe(0);
  });

  it('starts again after a quiet period and after stop()', async () => {
    const d = new OperationDeadlines(20, 'test');
    await rejection(d.wrap('a', never()));
    await later(40, null); // the timer has stopped: nothing was pending
    await rejection(d.wrap('b', never()));
    d.stop();
    await rejection(d.wrap('c', never()));
  });

  it('stop() keeps the deadlines of operations already in flight (close() during a hung call)', async () => {
    const d = new OperationDeadlines(30, 'test');
    const started = performance.now();
    const hung = d.wrap('get', never());
    d.stop();
    const error = await rejection(hung);
    expect(error.message).toContain('did not answer within operationTimeoutMs (30 ms)');
    expect(performance.now() - started).toBeLessThan(5000);
    expect(d.pending).toBe(0);
  });

  it('add(): onExpire runs once after ms unless cleared first', async () => {
    const d = new OperationDeadlines(20, 'test');
    let expired = 0;
    let cleared = 0;
    const a = d.add(() => expired++);
    const b = d.add(() => cleared++);
    b.clear();
    b.clear();
    expect(b.done).toBe(true);
    expect(d.pending).toBe(1);
    await later(60, null);
    expect(expired).toBe(1);
    expect(cleared).toBe(0);
    expect(a.done).toBe(true);
    a.clear(); // after expiry: harmless
    expect(d.pending).toBe(0);
    expect(d.timeoutError('touch').message).toBe(
      '[sessionkit/test] touch: backend did not answer within operationTimeoutMs (20 ms)',
    );
  });

  it('expires exactly the operations still pending after the timeout, each once, in order', async () => {
    const deadlines = new OperationDeadlines(60, 'test');
    const expired: number[] = [];
    const entries = [];
    for (let i = 0; i < 3000; i++) {
      entries.push(deadlines.add(() => expired.push(i)));
      if (i % 7 !== 0) entries[i]?.clear(); // most settle at once
      if (i % 500 === 0) await later(5, null);
    }
    const started = Date.now();
    const late = deadlines.add(() => expired.push(-1));
    await later(250, null);
    const want = Array.from({ length: 3000 }, (_, i) => i).filter((i) => i % 7 === 0);
    expect(expired).toEqual([...want, -1]);
    expect(late.done).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(60);
  });

  it('never expires an operation before its own deadline', async () => {
    const deadlines = new OperationDeadlines(100, 'test');
    const early = deadlines.add(() => {});
    await later(60, null);
    let fired = false;
    const t0 = performance.now();
    let at = 0;
    deadlines.add(() => {
      fired = true;
      at = performance.now() - t0;
    });
    early.clear();
    // the first tick (at ~100 ms, for `early`) must re-arm for this one, not expire it
    const deadline = Date.now() + 5000;
    while (!fired && Date.now() < deadline) await later(10, null);
    expect(fired).toBe(true);
    expect(at).toBeGreaterThanOrEqual(99);
  });

  it('keeps going when an onExpire throws', async () => {
    const d = new OperationDeadlines(20, 'test');
    const errors: unknown[] = [];
    const onError = (e: unknown) => errors.push(e);
    process.on('uncaughtException', onError);
    try {
      let second = false;
      d.add(() => {
        throw new Error('bad callback');
      });
      d.add(() => {
        second = true;
      });
      await later(80, null);
      expect(second).toBe(true);
      expect(d.pending).toBe(0);
    } finally {
      process.off('uncaughtException', onError);
    }
  });

  /** Runs `body` (ESM, with OperationDeadlines imported from the build) in a child process. */
  function child(body: string) {
    const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const script = `import { OperationDeadlines } from ${JSON.stringify(dist)};\n${body}`;
    const started = Date.now();
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 30000,
    });
    return { ...run, elapsed: Date.now() - started };
  }

  it('an idle instance never keeps a process alive (the timer is unref’d once nothing is pending)', () => {
    const run = child(`const d = new OperationDeadlines(600000, 'x');
      await d.wrap('get', Promise.resolve(1));
      const e = d.add(() => {});
      e.clear();
      console.log('settled', d.pending);`);
    expect(run.stdout.trim()).toBe('settled 0');
    expect(run.status).toBe(0);
    expect(run.elapsed).toBeLessThan(30000);
  });

  it('an operation in flight settles (STORAGE) before the process can exit, even when nothing else keeps it alive', () => {
    // Before: the timer was unref'd while the operation was pending, so a top-level await
    // on it ended the process with code 13 ("unsettled top-level await") and no message.
    const run = child(`const d = new OperationDeadlines(300, 'memcached');
      try {
        await d.wrap('get', new Promise(() => {}));
        console.log('resolved');
      } catch (error) {
        console.log(error.code, error.message);
      }`);
    expect(run.stdout).toContain('STORAGE');
    expect(run.stdout).toContain('operationTimeoutMs (300 ms)');
    expect(run.status).toBe(0);
  });

  it('stop() with an operation in flight still lets it settle first; then the process exits', () => {
    const run = child(`const d = new OperationDeadlines(300, 'x');
      const p = d.wrap('get', new Promise(() => {})).catch((e) => console.log(e.code));
      d.stop();
      await p;`);
    expect(run.stdout.trim()).toBe('STORAGE');
    expect(run.status).toBe(0);
  });
});
