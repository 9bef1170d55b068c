import type { SessionRecord } from '../record.js';
import { tenantId } from '../tenant.js';
import assert from './assert.js';
import {
  assertSameRecord,
  expectedRecord,
  HOUR,
  ids,
  MINUTE,
  type Register,
  rand,
  rejectsWith,
  SECOND,
  type TestEnv,
} from './harness.js';

/** Expiry at the boundary, across every method. */
export function expiryTests(test: Register): void {
  test('get: valid until expiresAt, EXPIRED at exactly expiresAt', {}, async ({ store, record, clock }) => {
    const input = record({ expiresAt: new Date(clock.now() + 10 * SECOND) });
    const id = await store.create(input);
    clock.advance(10 * SECOND - 1);
    assertSameRecord(await store.get(id), expectedRecord(input, id), 'one ms before expiry');
    clock.advance(1);
    await rejectsWith(() => store.get(id), 'EXPIRED');
    clock.advance(30 * MINUTE);
    await rejectsWith(() => store.get(id), 'EXPIRED', undefined);
  });

  test('update, extend and touch reject EXPIRED and never revive', { needs: ['mutate'] }, async ({
    store,
    record,
    clock,
  }) => {
    const input = record({ expiresAt: new Date(clock.now() + SECOND) });
    const id = await store.create(input);
    clock.advance(SECOND);
    await rejectsWith(() => store.extend(id, HOUR), 'EXPIRED');
    await rejectsWith(() => store.touch(id), 'EXPIRED');
    await rejectsWith(
      () =>
        store.update({ ...input, id, expiresAt: new Date(clock.now() + HOUR), lastActivityAt: new Date(clock.now()) }),
      'EXPIRED',
    );
    await rejectsWith(() => store.get(id), 'EXPIRED');
  });

  test('listByUser leaves out expired sessions', { needs: ['list'] }, async ({ store, record, clock }) => {
    const a = record({ expiresAt: new Date(clock.now() + SECOND) });
    const short = await store.create(a);
    const long = await store.create({
      ...a,
      expiresAt: new Date(clock.now() + HOUR),
      createdAt: new Date(clock.now() - 1),
    });
    assert.deepStrictEqual(ids(await store.listByUser(a.userId, a.tenantId)).sort(), [short, long].sort());
    clock.advance(SECOND);
    assert.deepStrictEqual(ids(await store.listByUser(a.userId, a.tenantId)), [long]);
  });
}

export function updateTests(test: Register): void {
  test('update replaces the six mutable fields', { needs: ['mutate'] }, async ({ store, record, clock }) => {
    const input = record();
    const id = await store.create(input);
    clock.advance(5 * SECOND);
    const next: SessionRecord = {
      ...input,
      id,
      transactionId: 'tx-step-up',
      factorsUsed: ['password', 'webauthn'],
      assuranceLevel: 3,
      metadata: { stepUp: true, list: [1, 2, 3] },
      expiresAt: new Date(clock.now() + 2 * HOUR),
      lastActivityAt: new Date(clock.now()),
    };
    await store.update(next);
    assertSameRecord(await store.get(id), next, 'after update');
  });

  test('update rejects NOT_FOUND for a missing id', { needs: ['mutate'] }, async ({ store, record }) => {
    for (const id of [`missing-${rand()}`, '', 'x'.repeat(300)]) {
      await rejectsWith(() => store.update(record({ id })), 'NOT_FOUND');
    }
  });

  test('update rejects INVALID when userId, tenantId or createdAt change', { needs: ['mutate'] }, async (env) => {
    const input = env.record();
    const id = await env.store.create(input);
    const changes: [string, Partial<SessionRecord>][] = [
      ['userId', { userId: 'another-user' }],
      ['tenantId', { tenantId: tenantId('another-tenant') }],
      ['createdAt', { createdAt: new Date(input.createdAt.getTime() - 1) }],
    ];
    for (const [field, change] of changes) {
      await rejectsWith(
        () => env.store.update({ ...input, id, transactionId: 'changed', ...change }),
        'INVALID',
        field,
      );
    }
    assertSameRecord(await env.store.get(id), expectedRecord(input, id), 'nothing changed');
  });

  test('update checks shape, then existence, then expiry, then immutable fields', {
    needs: ['mutate'],
  }, async (env) => {
    const { store, clock } = env;
    // shape before existence: a missing id with a bad field is INVALID
    await rejectsWith(
      () => store.update(env.record({ id: `missing-${rand()}`, assuranceLevel: 0.5 })),
      'INVALID',
      'assuranceLevel',
    );
    // a new expiresAt in the past is a shape error, even for a missing id
    await rejectsWith(
      () => store.update(env.record({ id: `missing-${rand()}`, expiresAt: new Date(clock.now() - 1) })),
      'INVALID',
      'expiresAt',
    );
    // expiry before immutable fields
    const input = env.record({ expiresAt: new Date(clock.now() + SECOND) });
    const id = await store.create(input);
    clock.advance(SECOND);
    await rejectsWith(
      () => store.update({ ...input, id, userId: 'changed', expiresAt: new Date(clock.now() + HOUR) }),
      'EXPIRED',
    );
    // shape before expiry
    await rejectsWith(
      () => store.update({ ...input, id, factorsUsed: [1 as unknown as string] }),
      'INVALID',
      'factorsUsed',
    );
  });

  test('update validates like create, naming the field', { needs: ['mutate'] }, async ({ store, record }) => {
    const input = record();
    const id = await store.create(input);
    await rejectsWith(() => store.update({ ...input, id, metadata: { n: Number.NaN } }), 'INVALID', 'metadata');
    await rejectsWith(() => store.update({ ...input, id, transactionId: 'a\u0000' }), 'INVALID', 'transactionId');
    await rejectsWith(() => store.update(null as unknown as SessionRecord), 'INVALID', 'record');
    await rejectsWith(() => store.update({ ...input, id: 5 as unknown as string }), 'INVALID', 'id');
    assertSameRecord(await store.get(id), expectedRecord(input, id));
  });

  test('update caps expiresAt by maxLifetimeMs', {
    needs: ['mutate'],
    storeOptions: { maxLifetimeMs: HOUR },
  }, async (env) => {
    const input = env.record({ expiresAt: new Date(env.clock.now() + 30 * MINUTE) });
    const id = await env.store.create(input);
    await env.store.update({ ...input, id, expiresAt: new Date(env.clock.now() + 5 * HOUR) });
    const got = await env.store.get(id);
    assert.ok(got);
    assert.equal(got.expiresAt.getTime(), input.createdAt.getTime() + HOUR);
  });
}

export function extendTouchTests(test: Register): void {
  test('extend sets expiresAt = now + duration and lastActivityAt = now', { needs: ['mutate'] }, async (env) => {
    const input = env.record({ expiresAt: new Date(env.clock.now() + MINUTE) });
    const id = await env.store.create(input);
    const at = env.clock.advance(30 * SECOND);
    await env.store.extend(id, 2 * HOUR);
    assertSameRecord(
      await env.store.get(id),
      { ...expectedRecord(input, id), expiresAt: new Date(at + 2 * HOUR), lastActivityAt: new Date(at) },
      'after extend',
    );
    // sliding: a shorter extension moves expiry earlier
    env.clock.advance(SECOND);
    await env.store.extend(id, 1);
    const got = await env.store.get(id);
    assert.equal(got?.expiresAt.getTime(), env.clock.now() + 1);
  });

  test('extend rejects INVALID for a duration that is not a positive integer', { needs: ['mutate'] }, async (env) => {
    const id = await env.store.create(env.record());
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1000', null, undefined]) {
      await rejectsWith(() => env.store.extend(id, bad as number), 'INVALID', 'durationMs');
    }
  });

  test('extend and touch reject NOT_FOUND for a missing id', { needs: ['mutate'] }, async ({ store }) => {
    for (const id of [`missing-${rand()}`, '', 'a\u0000']) {
      await rejectsWith(() => store.extend(id, MINUTE), 'NOT_FOUND');
      await rejectsWith(() => store.touch(id), 'NOT_FOUND');
    }
  });

  test('extend: EXPIRED at exactly expiresAt, fine one ms before', { needs: ['mutate'] }, async (env) => {
    const id = await env.store.create(env.record({ expiresAt: new Date(env.clock.now() + SECOND) }));
    env.clock.advance(SECOND - 1);
    await env.store.extend(id, SECOND);
    env.clock.advance(SECOND);
    await rejectsWith(() => env.store.extend(id, HOUR), 'EXPIRED');
    await rejectsWith(() => env.store.touch(id), 'EXPIRED');
  });

  test('extend caps expiresAt by maxLifetimeMs', {
    needs: ['mutate'],
    storeOptions: { maxLifetimeMs: HOUR },
  }, async (env) => {
    const input = env.record({ expiresAt: new Date(env.clock.now() + 55 * MINUTE) });
    const id = await env.store.create(input);
    env.clock.advance(50 * MINUTE);
    await env.store.extend(id, HOUR);
    const got = await env.store.get(id);
    assert.equal(got?.expiresAt.getTime(), input.createdAt.getTime() + HOUR, 'capped at createdAt + maxLifetimeMs');
    assert.equal(got?.lastActivityAt.getTime(), env.clock.now());
  });

  test('touch sets lastActivityAt = now and leaves everything else', { needs: ['mutate'] }, async (env) => {
    const input = env.record();
    const id = await env.store.create(input);
    const at = env.clock.advance(42 * SECOND + 7);
    await env.store.touch(id);
    assertSameRecord(
      await env.store.get(id),
      { ...expectedRecord(input, id), lastActivityAt: new Date(at) },
      'after touch',
    );
  });

  test('listByUser reflects update, extend and touch', { needs: ['mutate', 'list'] }, async (env) => {
    const input = env.record();
    const id = await env.store.create(input);
    const at = env.clock.advance(SECOND);
    await env.store.extend(id, 3 * HOUR);
    await env.store.update({
      ...input,
      id,
      metadata: { v: 2 },
      expiresAt: new Date(at + 4 * HOUR),
      lastActivityAt: new Date(at),
    });
    env.clock.advance(SECOND);
    await env.store.touch(id);
    const [listed, ...rest] = await env.store.listByUser(input.userId, input.tenantId);
    assert.equal(rest.length, 0);
    assertSameRecord(
      listed ?? null,
      {
        ...expectedRecord(input, id),
        metadata: { v: 2 },
        expiresAt: new Date(at + 4 * HOUR),
        lastActivityAt: new Date(env.clock.now()),
      },
      'listed record',
    );
  });
}

export function deleteTests(test: Register): void {
  test('delete removes the session; get then returns null', { needs: ['revoke'] }, async ({ store, record }) => {
    const id = await store.create(record());
    await store.delete(id);
    assert.equal(await store.get(id), null);
  });

  test('delete is idempotent and resolves for missing and malformed ids', { needs: ['revoke'] }, async ({
    store,
    record,
  }) => {
    const id = await store.create(record());
    await store.delete(id);
    await store.delete(id);
    for (const other of [`missing-${rand()}`, '', 'x'.repeat(300), 'a\u0000']) await store.delete(other);
  });

  test('delete of an expired session removes it (null, not EXPIRED)', { needs: ['revoke'] }, async ({
    store,
    record,
    clock,
  }) => {
    const id = await store.create(record({ expiresAt: new Date(clock.now() + SECOND) }));
    clock.advance(2 * SECOND);
    await store.delete(id);
    assert.equal(await store.get(id), null);
  });

  test('delete removes the session from listByUser and touches no other', {
    needs: ['revoke', 'list'],
  }, async (env) => {
    const a = env.record();
    const first = await env.store.create(a);
    const second = await env.store.create({ ...a, createdAt: new Date(a.createdAt.getTime() - 1) });
    await env.store.delete(first);
    assert.deepStrictEqual(ids(await env.store.listByUser(a.userId, a.tenantId)), [second]);
  });

  test('mutations of a deleted session reject NOT_FOUND', { needs: ['revoke', 'mutate'] }, async ({
    store,
    record,
  }) => {
    const input = record();
    const id = await store.create(input);
    await store.delete(id);
    await rejectsWith(() => store.touch(id), 'NOT_FOUND');
    await rejectsWith(() => store.extend(id, MINUTE), 'NOT_FOUND');
    await rejectsWith(() => store.update({ ...input, id }), 'NOT_FOUND');
    assert.equal(await store.get(id), null);
  });

  test('deleteByUser removes every session of the user in that tenant and counts unexpired ones', {
    needs: ['revokeUser'],
  }, async (env) => {
    const { store, clock } = env;
    const base = env.record();
    const live: string[] = [];
    for (let i = 0; i < 3; i++) live.push(await store.create({ ...base, createdAt: new Date(clock.now() - i) }));
    const dead = await store.create({ ...base, expiresAt: new Date(clock.now() + SECOND) });
    clock.advance(SECOND);
    const otherTenant = await store.create({
      ...base,
      tenantId: tenantId(`${base.tenantId}-2`),
      expiresAt: new Date(clock.now() + HOUR),
    });
    const otherUser = await store.create({
      ...base,
      userId: `${base.userId}-2`,
      expiresAt: new Date(clock.now() + HOUR),
    });
    const count = await store.deleteByUser(base.userId, base.tenantId);
    // Only a stateless token store (suite option `stateless`) cannot count: it resolves 0.
    // Every other store counts, whether or not it can list.
    assert.equal(count, env.stateless ? 0 : 3, 'deleteByUser counts the unexpired sessions it removed');
    for (const id of live) assert.equal(await store.get(id), null, 'a removed session reads as null');
    if (!env.stateless) assert.equal(await store.get(dead), null, 'expired sessions of the user are removed too');
    assert.ok(await store.get(otherTenant), 'the same user in another tenant is untouched');
    assert.ok(await store.get(otherUser), 'another user in the same tenant is untouched');
    if (env.caps.list) assert.deepStrictEqual(await store.listByUser(base.userId, base.tenantId), []);
    assert.equal(await store.deleteByUser(base.userId, base.tenantId), 0, 'a second deleteByUser finds nothing');
    clock.advance(1);
    const again = await store.create({
      ...base,
      createdAt: new Date(clock.now()),
      lastActivityAt: new Date(clock.now()),
    });
    assert.ok(await store.get(again), 'the user can sign in again afterwards');
    if (env.caps.list) assert.deepStrictEqual(ids(await store.listByUser(base.userId, base.tenantId)), [again]);
  });

  test('deleteByUser of a user with no sessions resolves 0', { needs: ['revokeUser'] }, async ({ store }) => {
    assert.equal(await store.deleteByUser(`nobody-${rand()}`, tenantId(`t-${rand()}`)), 0);
  });

  test('listByUser rejects INVALID for bad arguments', { needs: ['list'] }, async ({ store }) => {
    for (const [user, tenant, field] of BAD_USER_ARGS) {
      await rejectsWith(() => store.listByUser(user as string, tenant as never), 'INVALID', field);
    }
  });

  test('deleteByUser rejects INVALID for bad arguments', { needs: ['revokeUser'] }, async ({ store }) => {
    for (const [user, tenant, field] of BAD_USER_ARGS) {
      await rejectsWith(() => store.deleteByUser(user as string, tenant as never), 'INVALID', field);
    }
  });
}

const BAD_USER_ARGS: [unknown, unknown, string][] = [
  ['', 'tenant', 'userId'],
  [42, 'tenant', 'userId'],
  ['u\u0000', 'tenant', 'userId'],
  ['x'.repeat(257), 'tenant', 'userId'],
  ['user', '', 'tenantId'],
  ['user', undefined, 'tenantId'],
  ['user', 't\u007f', 'tenantId'],
];

export function listTests(test: Register): void {
  test('listByUser returns [] for a user with no sessions', { needs: ['list'] }, async ({ store }) => {
    assert.deepStrictEqual(await store.listByUser(`nobody-${rand()}`, tenantId(`t-${rand()}`)), []);
  });

  test('listByUser returns full records ordered by createdAt, then id', { needs: ['list'] }, async (env) => {
    const base = env.record();
    const t = env.clock.now();
    const created: SessionRecord[] = [];
    for (const offset of [-1, -3, -1, 0, -2, -1]) {
      const input = { ...base, createdAt: new Date(t + offset), metadata: { offset } };
      const id = await env.store.create(input);
      created.push(expectedRecord(input, id));
    }
    created.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const listed = await env.store.listByUser(base.userId, base.tenantId);
    assert.deepStrictEqual(ids(listed), ids(created), 'order: createdAt, then id');
    listed.forEach((r, i) => assertSameRecord(r, created[i] as SessionRecord, `listed[${i}]`));
  });

  test('listByUser returns only that user in that tenant', { needs: ['list'] }, async (env) => {
    const base = env.record();
    const mine = await env.store.create(base);
    await env.store.create({ ...base, userId: `${base.userId}x` });
    await env.store.create({ ...base, tenantId: tenantId(`${base.tenantId}x`) });
    await env.store.create({ ...base, userId: base.tenantId, tenantId: tenantId(base.userId) });
    assert.deepStrictEqual(ids(await env.store.listByUser(base.userId, base.tenantId)), [mine]);
  });
}

export function cleanupTests(test: Register): void {
  test('cleanupExpired removes expired sessions, returns how many, keeps the rest', {
    needs: ['cleanup'],
  }, async (env) => {
    if (env.stateless) return cleanupOfRevocations(env);
    const { store, clock } = env;
    const base = env.record();
    const expired: string[] = [];
    for (let i = 0; i < 4; i++)
      expired.push(await store.create({ ...env.record(), expiresAt: new Date(clock.now() + SECOND + i) }));
    expired.push(await store.create({ ...base, expiresAt: new Date(clock.now() + SECOND) }));
    const live = await store.create({
      ...base,
      createdAt: new Date(clock.now() - 1),
      expiresAt: new Date(clock.now() + HOUR),
    });
    const boundary = await store.create({ ...env.record(), expiresAt: new Date(clock.now() + 2 * SECOND) });
    clock.advance(2 * SECOND); // boundary expires now: expiresAt <= now
    assert.equal(await store.cleanupExpired(), 6);
    for (const id of [...expired, boundary]) assert.equal(await store.get(id), null, 'cleaned sessions read as null');
    assert.ok(await store.get(live));
    if (env.caps.list) assert.deepStrictEqual(ids(await store.listByUser(base.userId, base.tenantId)), [live]);
    assert.equal(await store.cleanupExpired(), 0, 'a second run finds nothing');
  });

  test('cleanupExpired from many callers at once removes each session once', {
    needs: ['cleanup'],
  }, async (env) => {
    const { store, clock } = env;
    const total = 30;
    const live = await store.create(env.record());
    for (let i = 0; i < total; i++) {
      const id = await store.create(env.record({ expiresAt: new Date(clock.now() + SECOND + (i % 5)) }));
      // a stateless store has nothing to clean but the revocations of expired tokens
      if (env.stateless) await store.delete(id);
    }
    clock.advance(MINUTE);
    const counts = await Promise.all([store.cleanupExpired(), store.cleanupExpired(), store.cleanupExpired()]);
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      total,
      `counts ${counts.join('+')} must sum to ${total}`,
    );
    assert.ok(await store.get(live));
    assert.equal(await store.cleanupExpired(), 0, 'a later run finds nothing');
  });

  test('cleanupExpired on an empty store resolves 0', {}, async ({ store }) => {
    assert.equal(await store.cleanupExpired(), 0);
  });
}

/**
 * cleanupExpired of a stateless token store: it drops the revocations of tokens that have
 * expired, counts them, and keeps every revocation whose token is still valid.
 */
async function cleanupOfRevocations(env: TestEnv): Promise<void> {
  const { store, clock } = env;
  assert.ok(env.caps.revoke, 'a stateless store with cleanup must support delete (a revocation list)');
  const revokedExpiring: string[] = [];
  for (let i = 0; i < 5; i++) {
    const id = await store.create(env.record({ expiresAt: new Date(clock.now() + SECOND + i) }));
    await store.delete(id);
    revokedExpiring.push(id);
  }
  const revokedLive = await store.create(env.record({ expiresAt: new Date(clock.now() + HOUR) }));
  await store.delete(revokedLive);
  const live = await store.create(env.record({ expiresAt: new Date(clock.now() + HOUR) }));
  const expiredUnrevoked = await store.create(env.record({ expiresAt: new Date(clock.now() + SECOND) }));
  assert.equal(await store.cleanupExpired(), 0, 'nothing has expired yet');
  clock.advance(SECOND + 4); // the last revoked token expires now: expiresAt <= now
  assert.equal(await store.cleanupExpired(), revokedExpiring.length, 'the revocations of expired tokens');
  assert.equal(await store.cleanupExpired(), 0, 'a second run finds nothing');
  assert.equal(await store.get(revokedLive), null, 'a revoked token that is still valid stays revoked');
  assert.ok(await store.get(live), 'a valid token is untouched');
  await rejectsWith(() => store.get(expiredUnrevoked), 'EXPIRED');
}
