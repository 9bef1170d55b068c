import { encodeRecord } from '../codec.js';
import { SessionError } from '../errors.js';
import type { SessionRecord } from '../record.js';
import { tenantId } from '../tenant.js';
import assert from './assert.js';
import {
  assertSameRecord,
  type Capability,
  expectedRecord,
  HOUR,
  MINUTE,
  type Register,
  rand,
  rejectsWith,
  SECOND,
} from './harness.js';

const encoder = new TextEncoder();

/** UTF-8 bytes, counted by the platform's encoder (an oracle independent of core's count). */
function utf8Length(text: string): number {
  return encoder.encode(text).length;
}

/** Capabilities: what the store declares, and UNSUPPORTED for what it lacks. */
export function capabilityTests(test: Register, expected: Record<Capability, boolean>): void {
  test('declares exactly the expected capabilities, as booleans', {}, async ({ store }) => {
    const caps = store.capabilities;
    assert.ok(caps && typeof caps === 'object', 'store.capabilities must be an object');
    for (const key of Object.keys(expected) as Capability[]) {
      assert.equal(typeof caps[key], 'boolean', `capabilities.${key} must be a boolean`);
    }
    assert.deepStrictEqual({ ...caps }, { ...expected });
  });

  test('a store the suite treats as stateless keeps no records: no list, mutate or customIds', {}, async (env) => {
    const { list, mutate, customIds } = env.store.capabilities;
    if (env.stateless) {
      assert.deepStrictEqual(
        { list, mutate, customIds },
        { list: false, mutate: false, customIds: false },
        'the suite option stateless: true is for token stores only (they cannot count)',
      );
    } else {
      assert.equal(typeof list, 'boolean', 'a counting store declares its capabilities');
    }
  });

  test('close() resolves and may be called twice', {}, async ({ open }) => {
    const extra = await open();
    await extra.close();
    await extra.close();
  });

  test('list: listByUser rejects UNSUPPORTED', { lacks: 'list' }, async ({ store }) => {
    await rejectsWith(() => store.listByUser('u', tenantId('t')), 'UNSUPPORTED', 'listByUser');
  });
  test('revoke: delete rejects UNSUPPORTED', { lacks: 'revoke' }, async ({ store, record }) => {
    const id = await store.create(record());
    await rejectsWith(() => store.delete(id), 'UNSUPPORTED', 'delete');
  });
  test('revokeUser: deleteByUser rejects UNSUPPORTED', { lacks: 'revokeUser' }, async ({ store }) => {
    await rejectsWith(() => store.deleteByUser('u', tenantId('t')), 'UNSUPPORTED', 'deleteByUser');
  });
  test('mutate: update, extend and touch reject UNSUPPORTED', { lacks: 'mutate' }, async ({ store, record }) => {
    const input = record();
    const id = await store.create(input);
    await rejectsWith(() => store.update({ ...input, id, transactionId: 'x' }), 'UNSUPPORTED', 'update');
    await rejectsWith(() => store.extend(id, MINUTE), 'UNSUPPORTED', 'extend');
    await rejectsWith(() => store.touch(id), 'UNSUPPORTED', 'touch');
  });
  test('cleanup: cleanupExpired resolves 0 and removes nothing', { lacks: 'cleanup' }, async ({
    store,
    record,
    clock,
  }) => {
    const id = await store.create(record({ expiresAt: new Date(clock.now() + SECOND) }));
    clock.advance(SECOND);
    assert.equal(await store.cleanupExpired(), 0);
    await rejectsWith(() => store.get(id), 'EXPIRED');
  });
  test('customIds: create with a caller-chosen id rejects INVALID', { lacks: 'customIds' }, async ({
    store,
    record,
  }) => {
    await rejectsWith(() => store.create(record({ id: `sid-${rand()}` })), 'INVALID', 'record.id');
  });
}

/** create, get and round-trip fidelity. */
export function createTests(test: Register): void {
  test('create generates an id and get returns the record deep-equal', {}, async ({ store, record }) => {
    const input = record();
    const id = await store.create(input);
    assert.equal(typeof id, 'string');
    assert.ok(id.length > 0, 'the generated id must not be empty');
    assertSameRecord(await store.get(id), expectedRecord(input, id));
  });

  test('generated ids are base64url with at least 256 bits and unique', { needs: ['customIds'] }, async (env) => {
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const id = await env.store.create(env.record());
      assert.match(id, /^[A-Za-z0-9_-]{43,}$/, `generated id ${id} must be base64url of >= 256 bits`);
      seen.add(id);
    }
    assert.equal(seen.size, 40, 'generated ids must be unique');
  });

  test('ids issued by a store without customIds are unique strings', { lacks: 'customIds' }, async (env) => {
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add(await env.store.create(env.record()));
    assert.equal(seen.size, 20);
  });

  test('create stores a caller-chosen id as given', { needs: ['customIds'] }, async ({ store, record }) => {
    for (const id of [
      `sid-${rand()}`,
      `with spaces : | { } % / ${rand()}`,
      `ünï-😀-${rand()}`,
      'x'.repeat(248) + rand(),
    ]) {
      const input = record({ id });
      assert.equal(await store.create(input), id);
      assertSameRecord(await store.get(id), expectedRecord(input, id));
    }
  });

  test('create with an existing id rejects CONFLICT and keeps the original', { needs: ['customIds'] }, async (env) => {
    const id = `sid-${rand()}`;
    const original = env.record({ id });
    await env.store.create(original);
    const other = env.record({ id, userId: 'someone-else', metadata: { overwritten: true } });
    await rejectsWith(() => env.store.create(other), 'CONFLICT');
    assertSameRecord(await env.store.get(id), expectedRecord(original, id), 'the original after CONFLICT');
  });

  test('a deleted id can be created again', { needs: ['customIds', 'revoke'] }, async ({ store, record }) => {
    const id = `sid-${rand()}`;
    await store.create(record({ id }));
    await store.delete(id);
    const again = record({ id, metadata: { second: true } });
    assert.equal(await store.create(again), id);
    assertSameRecord(await store.get(id), expectedRecord(again, id), 'the re-created session');
  });

  test('create accepts empty transactionId, empty factorsUsed and extreme assurance levels', {}, async (env) => {
    for (const level of [0, -(2 ** 31), 2 ** 31 - 1]) {
      const input = env.record({ transactionId: '', factorsUsed: [], assuranceLevel: level, metadata: null });
      const id = await env.store.create(input);
      assertSameRecord(await env.store.get(id), expectedRecord(input, id));
    }
  });

  test('get returns Dates to the millisecond and metadata as JSON', {}, async ({ store, record, clock }) => {
    const created = clock.now() - 1234;
    const input = record({
      createdAt: new Date(created + 0.4),
      lastActivityAt: new Date(created + 777),
      expiresAt: new Date(clock.now() + 3 * HOUR + 999),
      metadata: [1, 'two', { three: [3] }, null, false],
    });
    const id = await store.create(input);
    const got = await store.get(id);
    assert.ok(got);
    assert.ok(got.createdAt instanceof Date && got.expiresAt instanceof Date && got.lastActivityAt instanceof Date);
    assert.equal(got.createdAt.getTime(), input.createdAt.getTime());
    assert.equal(got.lastActivityAt.getTime(), created + 777);
    assert.equal(got.expiresAt.getTime(), clock.now() + 3 * HOUR + 999);
    assert.deepStrictEqual(got.metadata, [1, 'two', { three: [3] }, null, false]);
  });

  test('the store keeps its own copy: mutating input or output changes nothing stored', {}, async (env) => {
    const input = env.record({ metadata: { list: [1, 2], obj: { a: 1 } }, factorsUsed: ['password'] });
    const id = await env.store.create(input);
    const snapshot = expectedRecord(input, id);
    (input.metadata as { list: number[] }).list.push(3);
    input.factorsUsed.push('mutated');
    input.expiresAt.setTime(0);
    const first = await env.store.get(id);
    assertSameRecord(first, snapshot, 'after mutating the input');
    assert.ok(first);
    (first.metadata as { obj: { a: number } }).obj.a = 99;
    first.factorsUsed.push('mutated');
    first.createdAt.setTime(0);
    assertSameRecord(await env.store.get(id), snapshot, 'after mutating a returned record');
  });

  test('get returns null for ids that name no session, malformed ones included', {}, async ({ store }) => {
    for (const id of [
      '',
      'missing',
      `nope-${rand()}`,
      'x'.repeat(300),
      'a\u0000b',
      '../../etc',
      '*',
      '?',
      '\n',
      '😀',
      '{tag}',
      '%00',
    ]) {
      assert.equal(await store.get(id), null, `get(${JSON.stringify(id)})`);
    }
  });

  test('every method that takes an id rejects INVALID for a non-string id', {}, async ({ store, caps }) => {
    for (const bad of [undefined, null, 42, {}, ['id'], Symbol('id')] as unknown[]) {
      const id = bad as string;
      await rejectsWith(() => store.get(id), 'INVALID', 'id');
      if (caps.revoke) await rejectsWith(() => store.delete(id), 'INVALID', 'id');
      if (caps.mutate) {
        await rejectsWith(() => store.extend(id, MINUTE), 'INVALID', 'id');
        await rejectsWith(() => store.touch(id), 'INVALID', 'id');
      }
    }
  });

  test('a record over maxRecordBytes is INVALID and not stored', {
    storeOptions: { maxRecordBytes: 1024 },
  }, async (env) => {
    const input = env.record({ metadata: { blob: 'x'.repeat(2000) } });
    await rejectsWith(() => env.store.create(input), 'INVALID', 'maxRecordBytes');
    if (env.caps.list) assert.deepStrictEqual(await env.store.listByUser(input.userId, input.tenantId), []);
  });

  test('maxRecordBytes counts the UTF-8 bytes of the encoded record, inclusive', {
    needs: ['customIds'],
  }, async (env) => {
    const input = env.record({ id: `sid-${rand()}`, metadata: { text: 'é😀'.repeat(40), plain: 'y'.repeat(100) } });
    const bytes = utf8Length(encodeRecord(input));
    const exact = await env.open({ maxRecordBytes: bytes });
    assert.equal(await exact.create(input), input.id);
    const under = await env.open({ maxRecordBytes: bytes - 1 });
    await rejectsWith(() => under.create({ ...input, id: `sid-${rand()}` }), 'INVALID', 'maxRecordBytes');
  });

  test('maxRecordBytes: the exact boundary holds for store-issued ids too', { lacks: 'customIds' }, async (env) => {
    // A store without customIds counts the record with the id it issues, or with no id
    // when the id is the token itself (store-jwt). Either way a record of exactly
    // maxRecordBytes is accepted and one byte less of limit rejects it.
    const input = env.record({ metadata: { text: 'é😀'.repeat(40), plain: 'y'.repeat(100) } });
    const withoutId = utf8Length(encodeRecord(input));
    let limit = withoutId;
    const exact = await env.open({ maxRecordBytes: limit });
    try {
      await exact.create(input);
    } catch (error) {
      assert.ok(SessionError.hasCode(error, 'INVALID'), `create at the boundary: ${String(error)}`);
      // the store counts the id it issues: learn its length from a roomy store
      const roomy = await env.open({ maxRecordBytes: 4 * withoutId });
      const id = await roomy.create(input);
      limit = utf8Length(encodeRecord({ ...input, id }));
      const withId = await env.open({ maxRecordBytes: limit });
      await withId.create(input);
    }
    const under = await env.open({ maxRecordBytes: limit - 1 });
    await rejectsWith(() => under.create(input), 'INVALID', 'maxRecordBytes');
  });

  test('create rejects a createdAt later than now INVALID, naming record.createdAt', {}, async (env) => {
    const { store, clock, caps } = env;
    for (const ahead of [1, SECOND, 10 * 365 * 24 * HOUR]) {
      const input = env.record({
        createdAt: new Date(clock.now() + ahead),
        lastActivityAt: new Date(clock.now()),
        expiresAt: new Date(clock.now() + ahead + HOUR),
      });
      await rejectsWith(() => store.create(input), 'INVALID', 'record.createdAt');
      if (caps.list) assert.deepStrictEqual(await store.listByUser(input.userId, input.tenantId), []);
    }
    const atNow = env.record({ createdAt: new Date(clock.now()) });
    assert.ok(await store.get(await store.create(atNow)), 'createdAt equal to now is accepted');
  });

  test('maxLifetimeMs cannot be stretched by a future createdAt', {
    storeOptions: { maxLifetimeMs: HOUR },
  }, async (env) => {
    const input = env.record({
      createdAt: new Date(env.clock.now() + 10 * 365 * 24 * HOUR),
      expiresAt: new Date(env.clock.now() + 10 * 365 * 24 * HOUR + 30 * MINUTE),
    });
    await rejectsWith(() => env.store.create(input), 'INVALID', 'record.createdAt');
  });

  test('maxLifetimeMs caps expiresAt at createdAt + maxLifetimeMs in create', {
    storeOptions: { maxLifetimeMs: 10 * MINUTE },
  }, async (env) => {
    const input = env.record({
      createdAt: new Date(env.clock.now() - MINUTE),
      expiresAt: new Date(env.clock.now() + HOUR),
    });
    const id = await env.store.create(input);
    const got = await env.store.get(id);
    assert.ok(got);
    assert.equal(got.expiresAt.getTime(), input.createdAt.getTime() + 10 * MINUTE, 'expiresAt is capped, not rejected');
  });

  test('maxLifetimeMs: a session whose cap is already past is INVALID', {
    storeOptions: { maxLifetimeMs: 10 * MINUTE },
  }, async (env) => {
    const input = env.record({
      createdAt: new Date(env.clock.now() - 10 * MINUTE),
      expiresAt: new Date(env.clock.now() + HOUR),
    });
    await rejectsWith(() => env.store.create(input), 'INVALID', 'maxLifetimeMs');
  });
}

type Mutator = [field: string, change: (r: Record<string, unknown>) => void];

function cycle(): unknown {
  const a: Record<string, unknown> = { b: {} };
  (a.b as Record<string, unknown>).a = a;
  return a;
}

/** Every kind of bad record the contract names. `field` must appear in the message. */
export function badRecords(now: number): Mutator[] {
  const long = 'x'.repeat(257);
  return [
    ['userId', (r) => (r.userId = '')],
    ['userId', (r) => (r.userId = long)],
    ['userId', (r) => (r.userId = 'a\u0000b')],
    ['userId', (r) => (r.userId = 'a\u007fb')],
    ['userId', (r) => (r.userId = 'a\u009fb')],
    ['userId', (r) => (r.userId = 42)],
    ['userId', (r) => (r.userId = undefined)],
    ['tenantId', (r) => (r.tenantId = '')],
    ['tenantId', (r) => (r.tenantId = long)],
    ['tenantId', (r) => (r.tenantId = 't\nx')],
    ['tenantId', (r) => (r.tenantId = null)],
    ['transactionId', (r) => (r.transactionId = 7)],
    ['transactionId', (r) => (r.transactionId = 'a\u0001')],
    ['transactionId', (r) => (r.transactionId = long)],
    ['factorsUsed', (r) => (r.factorsUsed = 'password')],
    ['factorsUsed', (r) => (r.factorsUsed = [1])],
    ['factorsUsed', (r) => (r.factorsUsed = ['ok', 'a\u0000'])],
    ['factorsUsed', (r) => (r.factorsUsed = [long])],
    ['assuranceLevel', (r) => (r.assuranceLevel = 1.5)],
    ['assuranceLevel', (r) => (r.assuranceLevel = 2 ** 31)],
    ['assuranceLevel', (r) => (r.assuranceLevel = -(2 ** 31) - 1)],
    ['assuranceLevel', (r) => (r.assuranceLevel = Number.NaN)],
    ['assuranceLevel', (r) => (r.assuranceLevel = '1')],
    ['metadata', (r) => (r.metadata = undefined)],
    ['metadata', (r) => (r.metadata = () => 1)],
    ['metadata', (r) => (r.metadata = { n: 10n })],
    ['metadata', (r) => (r.metadata = cycle())],
    ['metadata', (r) => (r.metadata = { n: Number.NaN })],
    ['metadata', (r) => (r.metadata = [Number.POSITIVE_INFINITY])],
    ['metadata', (r) => (r.metadata = { a: undefined })],
    ['metadata', (r) => (r.metadata = { a: [1, { b: Symbol('s') }] })],
    ['metadata', (r) => (r.metadata = { when: new Date(now) })],
    ['metadata', (r) => (r.metadata = { m: new Map() })],
    ['createdAt', (r) => (r.createdAt = new Date(Number.NaN))],
    ['createdAt', (r) => (r.createdAt = now)],
    ['createdAt', (r) => (r.createdAt = new Date(now + 1))],
    ['createdAt', (r) => ((r.createdAt = new Date(now + 2 * HOUR)), (r.expiresAt = new Date(now + 3 * HOUR)))],
    ['expiresAt', (r) => (r.expiresAt = new Date(Number.NaN))],
    ['expiresAt', (r) => (r.expiresAt = '2030-01-01T00:00:00Z')],
    ['expiresAt', (r) => (r.expiresAt = new Date(now))], // equal to now: not later
    ['expiresAt', (r) => ((r.createdAt = new Date(now - HOUR)), (r.expiresAt = new Date(now - 2 * HOUR)))],
    ['expiresAt', (r) => (r.expiresAt = new Date(now - 1))],
    ['lastActivityAt', (r) => (r.lastActivityAt = new Date(Number.NaN))],
    ['lastActivityAt', (r) => (r.lastActivityAt = undefined)],
  ];
}

export function validationTests(test: Register): void {
  test('create rejects INVALID, naming the field, for every kind of bad record', {}, async ({
    store,
    record,
    clock,
    caps,
  }) => {
    for (const [field, change] of badRecords(clock.now())) {
      const original = record();
      const input = { ...original } as unknown as Record<string, unknown>;
      change(input);
      const error = await rejectsWith(() => store.create(input as unknown as SessionRecord), 'INVALID', field);
      assert.ok(SessionError.isInstance(error));
      if (caps.list) {
        const left = await store.listByUser(original.userId, original.tenantId);
        assert.deepStrictEqual(left, [], `nothing may be stored after INVALID ${field}`);
      }
    }
  });

  test('create rejects INVALID for a record that is not an object', {}, async ({ store }) => {
    for (const bad of [null, undefined, 'record', 42, []] as unknown[]) {
      await rejectsWith(() => store.create(bad as SessionRecord), 'INVALID', 'record');
    }
  });

  test('create rejects INVALID for a bad caller-chosen id', {}, async ({ store, record }) => {
    for (const id of ['x'.repeat(257), 'a\u0000b', 'tab\there', 42 as unknown as string]) {
      await rejectsWith(() => store.create(record({ id })), 'INVALID', 'record.id');
    }
  });

  test('tenantId() rejects what the contract rules out and accepts the rest', {}, async () => {
    for (const bad of [
      '',
      'x'.repeat(257),
      'a\u0000',
      'a\u001f',
      'a\u007f',
      'a\u0085',
      'a\u009f',
      5,
      null,
      undefined,
    ]) {
      assert.throws(
        () => tenantId(bad as string),
        (e: unknown) => SessionError.isInstance(e) && e.code === 'INVALID' && e.message.includes('tenantId'),
      );
    }
    for (const good of ['a', 'x'.repeat(256), 'acme:eu|{1}/%20 ünï 😀', '\u00a0']) assert.equal(tenantId(good), good);
  });
}
