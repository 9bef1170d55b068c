import { SessionError } from '../errors.js';
import type { SessionRecord } from '../record.js';
import { type TenantId, tenantId } from '../tenant.js';
import assert from './assert.js';
import {
  assertSameRecord,
  expectedRecord,
  HOUR,
  ids,
  MINUTE,
  type Register,
  rand,
  SECOND,
  type TestEnv,
} from './harness.js';

const DAY = 24 * HOUR;

/**
 * Ownership: a user's index reaches only that user's sessions, even after a caller-chosen
 * id expired, was removed, and was reused by another user in another tenant.
 */
export function ownershipTests(test: Register): void {
  test('ownership: an id reused by another tenant after it expired never reaches the first user', {
    needs: ['customIds', 'revoke'],
  }, async (env) => {
    const { store, clock, caps } = env;
    const x = `device-${rand()}`;
    const alice = env.record({ id: x, expiresAt: new Date(clock.now() + SECOND), metadata: { owner: 'alice' } });
    await store.create(alice);
    const aliceLive = await store.create({ ...alice, id: '', expiresAt: new Date(clock.now() + 30 * DAY) });
    // x expires and goes away: past expiry and any retention, then cleanup (or delete)
    clock.advance(2 * DAY);
    if (caps.cleanup) assert.equal(await store.cleanupExpired(), 1, 'cleanupExpired removes the expired session');
    else await store.delete(x);
    assert.equal(await store.get(x), null, 'the expired session is gone');
    await reuseNeverReachesFirstOwner(env, alice, aliceLive);
  });

  test('ownership: an id the backend dropped by itself, reused by another tenant, never reaches the first user', {
    needs: ['customIds'],
    backendExpires: true,
    storeOptions: { expiredRetentionMs: 0 },
  }, async (env) => {
    const { store, clock } = env;
    const x = `device-${rand()}`;
    // the backend expires keys by its own (real) clock: keep the test clock in step
    clock.set(Math.max(clock.now(), Date.now()));
    const alice = env.record({ id: x, expiresAt: new Date(clock.now() + 200), metadata: { owner: 'alice' } });
    await store.create(alice);
    const aliceLive = await store.create({ ...alice, id: '', expiresAt: new Date(clock.now() + 30 * DAY) });
    // No cleanupExpired and no delete: the backend drops x while alice's index still names it.
    const giveUp = Date.now() + 15 * SECOND;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      clock.set(Math.max(clock.now(), Date.now()));
      const gone = await store.get(x).then(
        (r) => r === null,
        (e: unknown) => {
          if (SessionError.hasCode(e, 'EXPIRED')) return false;
          throw e;
        },
      );
      if (gone) break;
      assert.ok(
        Date.now() < giveUp,
        'the backend did not drop the session 15 s after expiresAt with expiredRetentionMs 0: is expiredRetentionMs passed through?',
      );
    }
    await reuseNeverReachesFirstOwner(env, alice, aliceLive);
  });

  test('ownership: an id reused by another user of the same tenant never reaches the first user', {
    needs: ['customIds', 'revoke', 'revokeUser'],
  }, async (env) => {
    const { store, clock, caps } = env;
    const x = `device-${rand()}`;
    const alice = env.record({ id: x, expiresAt: new Date(clock.now() + SECOND) });
    await store.create(alice);
    const aliceLive = await store.create({ ...alice, id: '', expiresAt: new Date(clock.now() + 30 * DAY) });
    clock.advance(2 * DAY);
    if (caps.cleanup) await store.cleanupExpired();
    else await store.delete(x);
    const carol = env.record({ id: x, userId: `carol-${rand()}`, tenantId: alice.tenantId });
    await store.create(carol);
    if (caps.list) assert.deepStrictEqual(ids(await store.listByUser(alice.userId, alice.tenantId)), [aliceLive]);
    assert.equal(await store.deleteByUser(alice.userId, alice.tenantId), env.stateless ? 0 : 1);
    assertSameRecord(await store.get(x), expectedRecord(carol, x), "carol's session after alice's deleteByUser");
  });
}

/**
 * Alice's session `alice.id` is gone while she still has `aliceLive`. Bob, in another
 * tenant, creates the same id: alice's listByUser, cleanupExpired, a create of hers and
 * her deleteByUser must neither show nor touch Bob's session.
 */
async function reuseNeverReachesFirstOwner(env: TestEnv, alice: SessionRecord, aliceLive: string): Promise<void> {
  const { store, clock, caps } = env;
  const x = alice.id;
  const bob = env.record({
    id: x,
    userId: `bob-${rand()}`,
    tenantId: tenantId(`other-${rand()}`),
    expiresAt: new Date(clock.now() + 10 * DAY),
    metadata: { owner: 'bob' },
  });
  assert.equal(await store.create(bob), x, 'another tenant may reuse the id');
  const bobs = expectedRecord(bob, x);
  const aliceList = async (what: string, expected: string[]) => {
    if (!caps.list) return;
    assert.deepStrictEqual(ids(await store.listByUser(alice.userId, alice.tenantId)).sort(), expected.sort(), what);
  };

  await aliceList("alice's list", [aliceLive]);
  if (caps.list) assert.deepStrictEqual(ids(await store.listByUser(bob.userId, bob.tenantId)), [x], "bob's list");
  clock.advance(MINUTE);
  if (caps.cleanup) assert.equal(await store.cleanupExpired(), 0, 'nothing has expired');
  assertSameRecord(await store.get(x), bobs, "bob's session after cleanupExpired");
  await aliceList("alice's list after cleanupExpired", [aliceLive]);
  // alice signs in again (a create may prune her index), then signs out everywhere
  const aliceAgain = await store.create({
    ...alice,
    id: '',
    createdAt: new Date(clock.now()),
    lastActivityAt: new Date(clock.now()),
    expiresAt: new Date(clock.now() + DAY),
  });
  assertSameRecord(await store.get(x), bobs, "bob's session after alice's create");
  await aliceList("alice's list after her create", [aliceLive, aliceAgain]);
  if (caps.revokeUser) {
    const removed = await store.deleteByUser(alice.userId, alice.tenantId);
    if (!env.stateless) assert.equal(removed, 2, "deleteByUser counts alice's two sessions only");
    assert.equal(await store.get(aliceLive), null);
    assertSameRecord(await store.get(x), bobs, "bob's session after alice's deleteByUser");
    if (caps.list) assert.deepStrictEqual(ids(await store.listByUser(bob.userId, bob.tenantId)), [x]);
  }
}

/**
 * `maxSessionsPerUser`: a create past the bound removes the user's soonest-expiring
 * sessions (expired ones still recorded first; ties: earliest createdAt, then smallest id)
 * in the same atomic step, never the new one.
 */
export function perUserTests(test: Register): void {
  test('maxSessionsPerUser: a create past the bound removes the soonest-expiring sessions, never the new one', {
    needs: ['list'],
    storeOptions: { maxSessionsPerUser: 3 },
  }, async (env) => {
    const { store, clock } = env;
    const base = env.record();
    const t = clock.now();
    const at = (offset: number, expires: number): SessionRecord => ({
      ...base,
      createdAt: new Date(t - offset),
      lastActivityAt: new Date(t),
      expiresAt: new Date(t + expires),
    });
    const three = await store.create(at(30, 3 * HOUR));
    const one = await store.create(at(20, 1 * HOUR));
    const two = await store.create(at(10, 2 * HOUR));
    // neighbours at the bound too: another user of the tenant, the same user elsewhere
    const neighbours: [string, string, TenantId][] = [];
    for (const other of [
      { ...base, userId: `${base.userId}-2` },
      { ...base, tenantId: tenantId(`${base.tenantId}-2`) },
    ]) {
      for (let i = 0; i < 3; i++) {
        neighbours.push([await store.create({ ...other, createdAt: new Date(t - i) }), other.userId, other.tenantId]);
      }
    }
    // the new session expires soonest of all and still stays
    const fresh = await store.create(at(0, 30 * MINUTE));
    const listed = ids(await store.listByUser(base.userId, base.tenantId));
    assert.deepStrictEqual([...listed].sort(), [fresh, two, three].sort(), 'keeps exactly the bound');
    assert.equal(await store.get(one), null, 'the removed session reads as null');
    assert.ok(await store.get(fresh), 'the new session is never removed');
    for (const [id] of neighbours) assert.ok(await store.get(id), 'other users keep their sessions');
    const four = await store.create(at(0, 4 * HOUR));
    assert.deepStrictEqual(
      ids(await store.listByUser(base.userId, base.tenantId)).sort(),
      [two, three, four].sort(),
      'the next create removes the new soonest-expiring one',
    );
    assert.equal(await store.get(fresh), null);
  });

  test('maxSessionsPerUser: expired sessions still recorded count and go first', {
    needs: ['list'],
    storeOptions: { maxSessionsPerUser: 3 },
  }, async (env) => {
    const { store, clock } = env;
    const base = env.record();
    const dead = await store.create({ ...base, expiresAt: new Date(clock.now() + SECOND) });
    const a = await store.create({ ...base, expiresAt: new Date(clock.now() + HOUR) });
    const b = await store.create({ ...base, expiresAt: new Date(clock.now() + 2 * HOUR) });
    clock.advance(2 * SECOND);
    const c = await store.create({
      ...base,
      createdAt: new Date(clock.now()),
      expiresAt: new Date(clock.now() + MINUTE),
    });
    assert.equal(await store.get(dead), null, 'the expired session was removed (null, not EXPIRED)');
    assert.deepStrictEqual(ids(await store.listByUser(base.userId, base.tenantId)).sort(), [a, b, c].sort());
    if (!env.stateless) assert.equal(await store.deleteByUser(base.userId, base.tenantId), 3);
  });

  test('maxSessionsPerUser: ties go by earliest createdAt, then smallest id', {
    needs: ['list', 'customIds'],
    storeOptions: { maxSessionsPerUser: 2 },
  }, async (env) => {
    const { store, clock } = env;
    const base = env.record();
    const t = clock.now();
    const expiresAt = new Date(t + HOUR);
    const r = rand();
    const later = await store.create({ ...base, id: `b-${r}`, createdAt: new Date(t - 5), expiresAt });
    const earlier = await store.create({ ...base, id: `c-${r}`, createdAt: new Date(t - 9), expiresAt });
    await store.create({ ...base, id: `z-${r}`, expiresAt: new Date(t + 2 * HOUR) });
    assert.equal(await store.get(earlier), null, 'same expiresAt: the earliest createdAt goes');
    assert.ok(await store.get(later));
    // same expiresAt and createdAt: the smallest id goes (another user, same rule)
    const other = { ...env.record(), createdAt: new Date(t - 5), expiresAt };
    const bigger = await store.create({ ...other, id: `e-${r}` });
    const smaller = await store.create({ ...other, id: `d-${r}` });
    await store.create({ ...other, id: `y-${r}`, expiresAt: new Date(t + 2 * HOUR) });
    assert.equal(await store.get(smaller), null, 'same expiresAt and createdAt: the smallest id goes');
    assert.ok(await store.get(bigger));
    assert.deepStrictEqual(ids(await store.listByUser(other.userId, other.tenantId)), [`e-${r}`, `y-${r}`]);
  });

  test('maxSessionsPerUser: concurrent creates for one user leave exactly the bound', {
    needs: ['list'],
    storeOptions: { maxSessionsPerUser: 3 },
  }, async (env) => {
    const { store, clock } = env;
    const base = env.record();
    const created = await Promise.all(
      Array.from({ length: 12 }, (_, i) => store.create({ ...base, expiresAt: new Date(clock.now() + HOUR + i) })),
    );
    const listed = ids(await store.listByUser(base.userId, base.tenantId));
    assert.equal(listed.length, 3, `listed ${listed.length} sessions`);
    for (const id of listed) assert.ok(created.includes(id));
    let readable = 0;
    for (const id of created) if (await store.get(id)) readable++;
    assert.equal(readable, 3, 'removed sessions read as null');
  });

  test('maxSessionsPerUser: a value that is not an integer from 1 to 1,000,000 is INVALID', {
    needs: ['list'],
  }, async (env) => {
    for (const bad of [0, -1, 1.5, 1_000_001, Number.NaN]) {
      let caught: unknown;
      try {
        await env.open({ maxSessionsPerUser: bad });
      } catch (error) {
        caught = error;
      }
      assert.ok(
        SessionError.hasCode(caught, 'INVALID') && caught.message.includes('maxSessionsPerUser'),
        `maxSessionsPerUser ${bad}: expected INVALID naming the option, got ${String(caught)}`,
      );
    }
    const roomy = await env.open({ maxSessionsPerUser: 1_000_000 });
    assert.ok(await roomy.get(await roomy.create(env.record())));
  });
}
