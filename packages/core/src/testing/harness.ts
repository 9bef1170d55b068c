import { ALL_CAPABILITIES, type StoreCapabilities } from '../capabilities.js';
import { SessionError, type SessionErrorCode } from '../errors.js';
import type { JsonValue, SessionRecord } from '../record.js';
import type { SessionStore } from '../store.js';
import { type TenantId, tenantId } from '../tenant.js';
import assert from './assert.js';
import type { ConformanceStoreOptions, DescribeSessionStoreOptions } from './types.js';

/** One second, one minute, one hour, in milliseconds. */
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;

/**
 * A clock that starts at the real time and moves only when a test advances it. Pass
 * `clock.now` as a store's `clock` option, then `advance` past an expiry instead of
 * sleeping.
 *
 * @example
 * const clock = new TestClock();
 * const store = new MySessionStore({ clock: clock.now });
 * const id = await store.create(makeRecord(clock)); // expires in one hour
 * clock.advance(HOUR);
 * await store.get(id); // rejects EXPIRED
 */
export class TestClock {
  private t = Math.floor(Date.now());
  readonly now = (): number => this.t;
  advance(ms: number): number {
    this.t += ms;
    return this.t;
  }
  set(ms: number): void {
    this.t = ms;
  }
}

/** A short random token for ids, users and tenants. */
export function rand(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(4));
  let out = '';
  for (const b of bytes) out += (b < 16 ? '0' : '') + b.toString(16);
  return out;
}

export interface TestEnv {
  store: SessionStore;
  clock: TestClock;
  caps: StoreCapabilities;
  /** The suite's `stateless` option: the store keeps tokens, not records, and cannot count. */
  stateless: boolean;
  /** A valid record for a fresh random user and tenant (override any field). */
  record(overrides?: Partial<SessionRecord>): SessionRecord;
  /** Another store built by the factory (destroyed after the test), for option tests. */
  open(options?: Partial<ConformanceStoreOptions>): Promise<SessionStore>;
}

/**
 * The metadata every basic test stores: JSON of every kind, including the awkward bits
 * (a `__proto__` key, lone surrogates, NUL, numbers like `1e21` and `-2.25e-7`). A fresh
 * object on each call; a store must read it back deep-equal.
 */
export function sampleMetadata(): JsonValue {
  const withProto = JSON.parse('{"__proto__":{"polluted":true},"constructor":"c"}') as JsonValue;
  return {
    ip: '203.0.113.7',
    roles: ['admin', 'billing'],
    numbers: [0, -1, 1.5, -2.25e-7, 9007199254740991, 1e21],
    flags: { a: true, b: false, none: null },
    nested: { deep: { deeper: [[], {}, '', [null]] } },
    'key with spaces and : | { } %': 'ok',
    unicode: 'ünïcødé ✓ 日本語 😀',
    nul: 'a\u0000b',
    lone: '\ud800x',
    escapes: '"quoted" \\ back \n newline \t tab',
    proto: withProto,
  };
}

/**
 * A valid record for a fresh random user and tenant, created now on `clock`, expiring one
 * hour later, with `id: ''` (the store generates one) and {@link sampleMetadata}. Any field
 * can be overridden.
 *
 * @example
 * const record = makeRecord(clock, { userId: 'ada', expiresAt: new Date(clock.now() + MINUTE) });
 */
export function makeRecord(clock: TestClock, overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = clock.now();
  const r = rand();
  return {
    id: '',
    userId: `user-${r}`,
    tenantId: tenantId(`tenant-${r}`),
    transactionId: `tx-${r}`,
    factorsUsed: ['password', 'totp'],
    assuranceLevel: 2,
    metadata: sampleMetadata(),
    createdAt: new Date(now),
    expiresAt: new Date(now + HOUR),
    lastActivityAt: new Date(now),
    ...overrides,
  };
}

/** Awaits `run()` and asserts it rejected (not threw) with a SessionError of `code`. */
export async function rejectsWith(
  run: () => Promise<unknown>,
  code: SessionErrorCode,
  mention?: string,
): Promise<SessionError> {
  let promise: Promise<unknown>;
  try {
    promise = run();
  } catch (error) {
    assert.fail(`threw synchronously instead of returning a rejected promise: ${String(error)}`);
  }
  assert.ok(promise && typeof promise.then === 'function', 'the method must return a promise');
  let caught: unknown;
  let resolved = false;
  let value: unknown;
  try {
    value = await promise;
    resolved = true;
  } catch (error) {
    caught = error;
  }
  if (resolved) assert.fail(`expected a SessionError ${code}, but it resolved with ${safeString(value)}`);
  assert.ok(
    SessionError.isInstance(caught),
    `expected a SessionError ${code}, got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught)}`,
  );
  assert.equal(caught.code, code, `expected code ${code}, got ${caught.code}: ${caught.message}`);
  assert.match(caught.message, /^\[sessionkit/, 'messages start with [sessionkit/<store>]');
  if (mention !== undefined) {
    assert.ok(caught.message.includes(mention), `the message should name '${mention}': ${caught.message}`);
  }
  return caught;
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value)?.slice(0, 200) ?? String(value);
  } catch {
    return String(value);
  }
}

/** What a stored record must read back as: the input with its id and capped expiry. */
export function expectedRecord(input: SessionRecord, id: string, expiresAt?: Date): SessionRecord {
  return {
    ...input,
    id,
    factorsUsed: [...input.factorsUsed],
    createdAt: new Date(input.createdAt.getTime()),
    lastActivityAt: new Date(input.lastActivityAt.getTime()),
    expiresAt: new Date((expiresAt ?? input.expiresAt).getTime()),
    metadata: JSON.parse(JSON.stringify(input.metadata)),
  };
}

/** deepStrictEqual with a readable message. */
export function assertSameRecord(actual: SessionRecord | null, expected: SessionRecord, what = 'record'): void {
  assert.ok(actual !== null, `${what}: expected a record, got null`);
  assert.deepStrictEqual(plain(actual), plain(expected), `${what} does not round-trip`);
}

/** Dates as ms so a mismatch shows numbers; everything else compared exactly. */
function plain(r: SessionRecord): Record<string, unknown> {
  return {
    ...r,
    createdAt: r.createdAt instanceof Date ? r.createdAt.getTime() : r.createdAt,
    expiresAt: r.expiresAt instanceof Date ? r.expiresAt.getTime() : r.expiresAt,
    lastActivityAt: r.lastActivityAt instanceof Date ? r.lastActivityAt.getTime() : r.lastActivityAt,
    dateTypes: [r.createdAt instanceof Date, r.expiresAt instanceof Date, r.lastActivityAt instanceof Date],
  };
}

export type Capability = keyof StoreCapabilities;

export interface RegisterOptions {
  /** Capabilities the test needs: otherwise it is reported as skipped. */
  needs?: Capability[];
  /** A capability the store must lack for the test to run (tests of UNSUPPORTED). */
  lacks?: Capability;
  /** Run only when the suite option `backendExpires` is set (otherwise reported as skipped). */
  backendExpires?: true;
  /** Options passed to the factory for the test's main store. */
  storeOptions?: Partial<ConformanceStoreOptions>;
}

export type Register = (name: string, options: RegisterOptions, fn: (env: TestEnv) => Promise<void>) => void;

/** Builds the `test()` function sections use: fresh store per test, capability gating. */
export function makeRegister(options: DescribeSessionStoreOptions, caps: StoreCapabilities): Register {
  const { runner } = options;
  const destroy = options.destroy ?? ((store: SessionStore) => store.close());
  const stateless = options.stateless === true;
  return (name, reg, fn) => {
    const missing = (reg.needs ?? []).filter((c) => !caps[c]);
    if (missing.length > 0) {
      runner.it.skip(`${name} [skipped: store lacks ${missing.join(', ')}]`, async () => {});
      return;
    }
    if (reg.backendExpires && options.backendExpires !== true) {
      runner.it.skip(
        `${name} [skipped: the backend does not expire data by itself (suite option backendExpires)]`,
        async () => {},
      );
      return;
    }
    if (reg.lacks && caps[reg.lacks]) {
      runner.it.skip(`${name} [skipped: store has ${reg.lacks}]`, async () => {});
      return;
    }
    runner.it(name, async () => {
      const clock = new TestClock();
      const opened: SessionStore[] = [];
      const open = async (extra: Partial<ConformanceStoreOptions> = {}) => {
        const store = await options.create({ clock: clock.now, ...extra });
        opened.push(store);
        return store;
      };
      try {
        const store = await open(reg.storeOptions);
        await fn({ store, clock, caps, stateless, record: (o) => makeRecord(clock, o), open });
      } finally {
        for (const store of opened.reverse()) await destroy(store);
      }
    });
  };
}

export function capabilitiesOf(options: DescribeSessionStoreOptions): StoreCapabilities {
  return options.capabilities ?? ALL_CAPABILITIES;
}

export function tenantOf(value: string): TenantId {
  return tenantId(value);
}

export function ids(records: SessionRecord[]): string[] {
  return records.map((r) => r.id);
}
