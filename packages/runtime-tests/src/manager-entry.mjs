// @sessionkit/manager on this runtime: the session lifecycle over MemorySessionStore with a
// manual clock shared by the store and the manager (every timeout at its exact millisecond,
// the write bound, step-up and its grace window, devices and revocation), and over
// store-jwt (HS256 + MemoryRevocationStore): issue/validate, signOut and the UNSUPPORTED
// rejections. Mirrors packages/manager/test/lifecycle.test.ts and stateless.test.ts.
import { SessionError, tenantId } from '@sessionkit/core';
import { SessionManager } from '@sessionkit/manager';
import { JwtSessionStore, MemoryRevocationStore } from '@sessionkit/store-jwt';
import { MemorySessionStore } from '@sessionkit/store-memory';
import { describe, it } from './runner.mjs';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const IDLE = 30 * MINUTE;
const ABSOLUTE = 12 * 60 * MINUTE;
const TOUCH = MINUTE;
const GRACE = 5 * SECOND;
const WRITES = new Set(['create', 'update', 'extend', 'touch', 'delete', 'deleteByUser']);

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** A clock the tests move by hand, starting at the real time. */
function manualClock() {
  let t = Date.now();
  const clock = () => t;
  clock.set = (ms) => {
    t = ms;
  };
  clock.advance = (ms) => {
    t += ms;
    return t;
  };
  return clock;
}

let seq = 0;
function someone() {
  const r = `${seq++}-${Math.random().toString(36).slice(2, 8)}`;
  return { userId: `user-${r}`, tenantId: tenantId(`tenant-${r}`) };
}

/** The real store, with its write calls counted. */
function counting(store) {
  let writes = 0;
  return new Proxy(store, {
    get(target, key) {
      if (key === 'writes') return () => writes;
      const value = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      if (WRITES.has(String(key))) {
        return (...args) => {
          writes++;
          return value.apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
}

function setup() {
  const clock = manualClock();
  const store = counting(new MemorySessionStore({ clock }));
  const manager = new SessionManager({ store, clock }); // the defaults
  return { clock, store, manager, who: someone() };
}

async function rejection(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, it resolved');
}

async function gone(store, handle) {
  const got = await store.get(handle).catch((e) => (SessionError.hasCode(e, 'EXPIRED') ? null : Promise.reject(e)));
  check(got === null, `the record ${handle} is still stored`);
}

describe('manager over MemorySessionStore on this runtime', () => {
  it('issue returns a 43-character token whose handle (not the token) is the store id; validate returns the session', async () => {
    const { store, manager, who } = setup();
    const { token, session } = await manager.issue({ ...who, factorsUsed: ['password'], metadata: { ua: 'x' } });
    check(/^[A-Za-z0-9_-]{43}$/.test(token), `bad token ${token}`);
    check(session.handle === (await manager.handleOf(token)), 'session.handle is handleOf(token)');
    check(session.handle !== token, 'the handle is not the token');
    check((await store.get(token)) === null, 'the token is no store id');
    const record = await store.get(session.handle);
    check(record?.userId === who.userId, 'the record is stored under the handle');
    check(!JSON.stringify(record).includes(token), 'the record holds no token');
    const got = await manager.validate(token);
    check(got?.userId === who.userId && got.tenantId === who.tenantId, 'validate returns the session');
    check(got.assuranceLevel === 1 && got.factorsUsed.join() === 'password', 'level 1, factor password');
    check(got.metadata?.ua === 'x' && got.rotated === false && got.handle === session.handle, 'metadata, not rotated');
    check(manager.stateless === false, 'not stateless over store-memory');
  });

  it('malformed, unknown and non-string tokens validate to null without an error', async () => {
    const { manager, who } = setup();
    await manager.issue(who);
    for (const bad of ['', 'x', 'A'.repeat(43), 'A'.repeat(44), '!'.repeat(43), null, undefined, 42]) {
      check((await manager.validate(bad)) === null, `validate(${JSON.stringify(bad)}) is not null`);
    }
  });

  it('idle timeout: valid at lastActivityAt + idle - 1, null at lastActivityAt + idle', async () => {
    const { clock, manager, who } = setup();
    const t0 = clock();
    const a = await manager.issue(who);
    const b = await manager.issue(who);
    clock.set(t0 + IDLE - 1);
    check((await manager.validate(a.token)) !== null, 'a is valid at idle - 1 (and slides)');
    clock.set(t0 + IDLE);
    check((await manager.validate(b.token)) === null, 'b is null at the idle deadline');
    const slidAt = t0 + IDLE - 1;
    clock.set(slidAt + IDLE - 1);
    const slid = await manager.validate(a.token);
    check(slid?.lastActivityAt.getTime() === slidAt + IDLE - 1, 'a is valid at its slid deadline - 1');
    clock.set(slidAt + IDLE - 1 + IDLE);
    check((await manager.validate(a.token)) === null, 'a is null at its slid deadline');
  });

  it('absolute timeout: valid at createdAt + absolute - 1 however active, null at createdAt + absolute', async () => {
    const { clock, manager, who } = setup();
    const t0 = clock();
    const { token } = await manager.issue(who);
    for (let t = t0 + IDLE - 1; t < t0 + ABSOLUTE; t += IDLE - 1) {
      clock.set(t);
      check((await manager.validate(token)) !== null, `valid at t0 + ${t - t0}`);
    }
    clock.set(t0 + ABSOLUTE - 1);
    const last = await manager.validate(token);
    check(last?.expiresAt.getTime() === t0 + ABSOLUTE, `expiresAt ${last?.expiresAt.getTime() - t0} at the end`);
    clock.set(t0 + ABSOLUTE);
    check((await manager.validate(token)) === null, 'null at the absolute deadline');
  });

  it('touchAfterMs: at most one store write per window, however many requests', async () => {
    const { clock, store, manager, who } = setup();
    const t0 = clock();
    const { token } = await manager.issue(who);
    const afterIssue = store.writes();
    for (let i = 0; i < 20; i++) check((await manager.validate(token)) !== null, 'valid');
    clock.set(t0 + TOUCH - 1);
    await Promise.all(Array.from({ length: 20 }, () => manager.validate(token)));
    check(store.writes() === afterIssue, `${store.writes() - afterIssue} writes before touchAfterMs`);
    clock.set(t0 + TOUCH);
    const results = await Promise.all(Array.from({ length: 20 }, () => manager.validate(token)));
    check(
      results.every((s) => s !== null),
      'all valid',
    );
    check(store.writes() === afterIssue + 1, `${store.writes() - afterIssue} writes at touchAfterMs, expected 1`);
    check((await manager.validate(token))?.lastActivityAt.getTime() === t0 + TOUCH, 'lastActivityAt slid');
    check(store.writes() === afterIssue + 1, 'no further write');
  });

  it('stepUp raises the level; the old token is valid until rotatedAt + grace - 1 and null at rotatedAt + grace', async () => {
    const { clock, manager, who } = setup();
    const t0 = clock();
    const first = await manager.issue({ ...who, factorsUsed: ['password'], metadata: { ua: 'a' } });
    const t1 = clock.advance(10 * SECOND);
    const up = await manager.stepUp(first.token, { factorsUsed: ['totp'], assuranceLevel: 2 });
    check(up !== null && up.token !== first.token, 'a new token');
    check(up.session.assuranceLevel === 2, 'level 2');
    check(up.session.factorsUsed.join() === 'password,totp', `factors ${up.session.factorsUsed}`);
    check(up.session.metadata?.ua === 'a', 'metadata carries over');
    check(up.session.createdAt.getTime() === t0, 'the sign-in time carries over');
    clock.set(t1 + GRACE - 1);
    const old = await manager.validate(first.token);
    check(old?.rotated === true && old.assuranceLevel === 1, 'the old token is valid, rotated, at level 1');
    check(
      (await manager.stepUp(first.token, { factorsUsed: ['totp'], assuranceLevel: 2 })) === null,
      'a rotated-out token cannot step up again',
    );
    clock.set(t1 + GRACE);
    check((await manager.validate(first.token)) === null, 'the old token is null at the end of the grace');
    const now = await manager.validate(up.token);
    check(now?.assuranceLevel === 2 && now.rotated === false, 'the new token is valid at level 2');
    clock.set(t0 + ABSOLUTE);
    check((await manager.validate(up.token)) === null, 'the absolute timeout counts from the first sign-in');
  });

  it('stepUp that lowers the level is INVALID naming assuranceLevel; a timed-out token cannot step up', async () => {
    const { clock, manager, who } = setup();
    const { token } = await manager.issue({ ...who, assuranceLevel: 2 });
    const error = await rejection(manager.stepUp(token, { factorsUsed: ['totp'], assuranceLevel: 1 }));
    check(SessionError.hasCode(error, 'INVALID'), `expected INVALID, got ${error}`);
    check(error.field === 'assuranceLevel', `field ${error.field}`);
    check((await manager.validate(token))?.assuranceLevel === 2, 'the session is unchanged');
    clock.advance(IDLE);
    check(
      (await manager.stepUp(token, { factorsUsed: ['totp'], assuranceLevel: 3 })) === null,
      'a timed-out token cannot step up',
    );
  });

  it("list shows the user's devices, marks the caller's own, hides sessions rotated out", async () => {
    const { manager, who } = setup();
    const a = await manager.issue({ ...who, metadata: { ua: 'laptop' } });
    const b = await manager.issue({ ...who, metadata: { ua: 'phone' } });
    const other = await manager.issue(someone());
    const up = await manager.stepUp(a.token, { factorsUsed: ['totp'], assuranceLevel: 2 });
    check(up !== null, 'stepUp');
    const devices = await manager.list(who.userId, who.tenantId, up.token);
    const handles = devices.map((d) => d.handle).sort();
    check(handles.join() === [b.session.handle, up.session.handle].sort().join(), `listed ${handles}`);
    check(devices.filter((d) => d.current).length === 1, 'exactly one current device');
    check(devices.find((d) => d.current)?.handle === up.session.handle, 'the current one is the caller');
    check(devices.find((d) => !d.current)?.metadata?.ua === 'phone', 'the other device keeps its metadata');
    check(!devices.some((d) => d.handle === other.session.handle), "another user's session is not listed");
  });

  it('revoke(handle) ends it at once with its predecessor in grace; an owner that is not the user does nothing', async () => {
    const { store, manager, who } = setup();
    const a = await manager.issue(who);
    const up = await manager.stepUp(a.token, { factorsUsed: ['totp'], assuranceLevel: 2 });
    check(up !== null, 'stepUp');
    check((await manager.revoke(up.session.handle, someone())) === false, 'a stranger cannot revoke it');
    check((await manager.validate(up.token)) !== null, 'still valid');
    check((await manager.revoke(up.session.handle, who)) === true, 'the owner revokes it');
    check((await manager.validate(up.token)) === null, 'the revoked token is null');
    check((await manager.validate(a.token)) === null, 'the old token in its grace window goes too');
    await gone(store, a.session.handle);
    check((await manager.revoke(up.session.handle)) === false, 'revoking again is false');
    check((await manager.revoke('not a handle')) === false, 'an unknown handle is false');
  });

  it('revokeOthers, signOut and revokeAll', async () => {
    const { manager, who } = setup();
    const [a, b, c] = [await manager.issue(who), await manager.issue(who), await manager.issue(who)];
    const other = await manager.issue(someone());
    check((await manager.revokeOthers(a.token)) === 2, 'revokeOthers counts 2');
    check((await manager.validate(b.token)) === null && (await manager.validate(c.token)) === null, 'others gone');
    check((await manager.validate(a.token)) !== null, "the caller's own stays");
    check((await manager.signOut(a.token)) === true, 'signOut');
    check((await manager.validate(a.token)) === null, 'signed out');
    const d = await manager.issue(who);
    const e = await manager.issue(who);
    check((await manager.revokeAll(who.userId, who.tenantId)) === 2, 'revokeAll counts 2');
    check((await manager.validate(d.token)) === null && (await manager.validate(e.token)) === null, 'all gone');
    check((await manager.validate(other.token)) !== null, "another user's session stays");
  });

  it('concurrent stepUps of one token: exactly one wins and the others write nothing', async () => {
    const { store, manager, who } = setup();
    const first = await manager.issue(who);
    const before = store.writes();
    const ups = await Promise.all([
      manager.stepUp(first.token, { factorsUsed: ['totp'], assuranceLevel: 2 }),
      manager.stepUp(first.token, { factorsUsed: ['webauthn'], assuranceLevel: 3 }),
      manager.stepUp(first.token, { factorsUsed: ['sms'], assuranceLevel: 2 }),
    ]);
    const won = ups.filter((u) => u !== null);
    check(won.length === 1, `${won.length} stepUps won`);
    check(store.writes() - before === 2, `${store.writes() - before} writes, expected a mark and a create`);
    const devices = await manager.list(who.userId, who.tenantId);
    check(devices.length === 1 && devices[0].handle === won[0].session.handle, 'only the winner is listed');
  });

  it('signOut of a token rotated out ends its whole step-up chain', async () => {
    const { clock, store, manager, who } = setup();
    const a = await manager.issue(who);
    clock.advance(SECOND);
    const b = await manager.stepUp(a.token, { factorsUsed: ['totp'], assuranceLevel: 2 });
    clock.advance(SECOND);
    const c = await manager.stepUp(b.token, { factorsUsed: ['webauthn'], assuranceLevel: 3 });
    check(c !== null, 'stepUp twice');
    const other = await manager.issue(who);
    check((await manager.signOut(a.token)) === true, 'signOut with the oldest token');
    for (const token of [a.token, b.token, c.token]) check((await manager.validate(token)) === null, 'chain ended');
    for (const handle of [a.session.handle, b.session.handle, c.session.handle]) await gone(store, handle);
    check((await manager.validate(other.token)) !== null, 'another device stays');
  });
});

describe('manager over store-jwt (HS256, MemoryRevocationStore) on this runtime', () => {
  const secret = 'a test secret that is at least thirty-two bytes long';
  const jwtSetup = (revocable = true) => {
    const clock = manualClock();
    const store = new JwtSessionStore({
      secret,
      clock,
      ...(revocable ? { revocations: new MemoryRevocationStore() } : {}),
    });
    return { clock, manager: new SessionManager({ store, clock }), who: someone() };
  };

  it('issues the signed token and validates it until createdAt + idleTimeoutMs - 1, null at it (no sliding)', async () => {
    const { clock, manager, who } = jwtSetup();
    check(manager.stateless === true, 'stateless mode');
    const t0 = clock();
    const { token, session } = await manager.issue({ ...who, assuranceLevel: 2, metadata: { ua: 'x' } });
    check(token.split('.').length === 3, 'the token is a JWT');
    check(session.handle === (await manager.handleOf(token)), 'handleOf');
    check((await manager.validate('not.a.jwt')) === null, 'a malformed token is null');
    clock.set(t0 + IDLE - 1);
    const got = await manager.validate(token);
    check(got?.userId === who.userId && got.assuranceLevel === 2 && got.metadata?.ua === 'x', 'the session');
    clock.set(t0 + IDLE);
    check((await manager.validate(token)) === null, 'null at createdAt + idleTimeoutMs');
  });

  it('signOut and revokeAll go through the revocation store', async () => {
    const { manager, who } = jwtSetup();
    const a = await manager.issue(who);
    const b = await manager.issue(who);
    check((await manager.signOut(a.token)) === true, 'signOut');
    check((await manager.validate(a.token)) === null, 'signed out');
    check((await manager.validate(b.token)) !== null, 'the other stays');
    check((await manager.revokeAll(who.userId, who.tenantId)) === 0, 'revokeAll resolves 0');
    check((await manager.validate(b.token)) === null, 'revokeAll ended it');
  });

  it('stepUp, list, revoke(handle) and revokeOthers reject UNSUPPORTED; without revocations signOut does too', async () => {
    const { manager, who } = jwtSetup();
    const { token, session } = await manager.issue(who);
    for (const [name, call] of [
      ['stepUp', () => manager.stepUp(token, { factorsUsed: ['totp'], assuranceLevel: 2 })],
      ['list', () => manager.list(who.userId, who.tenantId)],
      ['revoke', () => manager.revoke(session.handle)],
      ['revokeOthers', () => manager.revokeOthers(token)],
    ]) {
      const error = await rejection(call());
      check(SessionError.hasCode(error, 'UNSUPPORTED'), `${name}: expected UNSUPPORTED, got ${error}`);
    }
    const bare = jwtSetup(false);
    const issued = await bare.manager.issue(bare.who);
    const error = await rejection(bare.manager.signOut(issued.token));
    check(SessionError.hasCode(error, 'UNSUPPORTED'), `signOut without revocations: got ${error}`);
  });
});
