// The lifecycle at the exact millisecond of every timeout and grace window, on store-memory,
// Redis and PostgreSQL (real servers). The stores and the manager share one manual clock.
import { SessionError, type SessionStore } from '@sessionkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionManager } from '../src/index.js';
import {
  type Backend,
  counting,
  MINUTE,
  manualClock,
  memcachedBackend,
  memoryBackend,
  postgresBackend,
  redisBackend,
  SECOND,
  someone,
} from './helpers.js';

const IDLE = 30 * MINUTE;
const ABSOLUTE = 12 * 60 * MINUTE;
const TOUCH = MINUTE;
const GRACE = 5 * SECOND;

const backends: Record<string, () => Promise<Backend>> = {
  memory: async () => memoryBackend(),
  redis: redisBackend,
  postgres: postgresBackend,
  memcached: memcachedBackend,
};

for (const [name, start] of Object.entries(backends)) {
  describe(`SessionManager over ${name}`, () => {
    let backend: Backend;
    beforeAll(async () => {
      backend = await start();
    });
    afterAll(async () => {
      await backend?.stop();
    });

    async function setup() {
      const clock = manualClock();
      const store = counting(await backend.make(clock));
      const manager = new SessionManager({ store, clock }); // the defaults
      return { clock, store, manager, who: someone() };
    }

    async function expectGone(store: SessionStore, handle: string) {
      const got = await store.get(handle).catch((e: unknown) => (SessionError.hasCode(e, 'EXPIRED') ? 'expired' : e));
      expect(got === null || got === 'expired').toBe(true);
    }

    it('issue keeps only the hash of the token: the token is no store id, the handle is', async () => {
      const { store, manager, who } = await setup();
      const { token, session } = await manager.issue({ ...who, factorsUsed: ['password'], metadata: { ua: 'x' } });
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(session.handle).toBe(await manager.handleOf(token));
      expect(session.handle).not.toBe(token);
      expect(await store.get(token)).toBeNull();
      const record = await store.get(session.handle);
      expect(record?.userId).toBe(who.userId);
      expect(JSON.stringify(record)).not.toContain(token);
      expect(session).toMatchObject({
        assuranceLevel: 1,
        factorsUsed: ['password'],
        metadata: { ua: 'x' },
        rotated: false,
      });
    });

    it('idle timeout: valid at lastActivityAt + idle - 1, null at lastActivityAt + idle', async () => {
      const { clock, manager, who } = await setup();
      const t0 = clock();
      const a = await manager.issue(who);
      const b = await manager.issue(who);
      clock.set(t0 + IDLE - 1);
      expect(await manager.validate(a.token)).not.toBeNull(); // slides: lastActivityAt = t0 + IDLE - 1
      clock.set(t0 + IDLE);
      expect(await manager.validate(b.token)).toBeNull();
      const slidAt = t0 + IDLE - 1;
      clock.set(slidAt + IDLE - 1);
      expect((await manager.validate(a.token))?.lastActivityAt.getTime()).toBe(slidAt + IDLE - 1);
      clock.set(slidAt + IDLE - 1 + IDLE);
      expect(await manager.validate(a.token)).toBeNull();
    });

    it('absolute timeout: valid at createdAt + absolute - 1 however active, null at createdAt + absolute', async () => {
      const { clock, manager, who } = await setup();
      const t0 = clock();
      const { token } = await manager.issue(who);
      for (let t = t0 + IDLE - 1; t < t0 + ABSOLUTE; t += IDLE - 1) {
        clock.set(t);
        expect(await manager.validate(token)).not.toBeNull();
      }
      clock.set(t0 + ABSOLUTE - 1);
      const last = await manager.validate(token);
      expect(last?.expiresAt.getTime()).toBe(t0 + ABSOLUTE);
      clock.set(t0 + ABSOLUTE);
      expect(await manager.validate(token)).toBeNull();
    });

    it('writes at most once per touchAfterMs per session, whatever the request rate', async () => {
      const { clock, store, manager, who } = await setup();
      const t0 = clock();
      const { token } = await manager.issue(who);
      const afterIssue = store.writes();
      for (let i = 0; i < 20; i++) expect(await manager.validate(token)).not.toBeNull();
      clock.set(t0 + TOUCH - 1);
      await Promise.all(Array.from({ length: 20 }, () => manager.validate(token)));
      expect(store.writes()).toBe(afterIssue);
      clock.set(t0 + TOUCH);
      const results = await Promise.all(Array.from({ length: 20 }, () => manager.validate(token)));
      expect(results.every((s) => s !== null)).toBe(true);
      expect(store.writes()).toBe(afterIssue + 1);
      expect((await manager.validate(token))?.lastActivityAt.getTime()).toBe(t0 + TOUCH);
      expect(store.writes()).toBe(afterIssue + 1);
    });

    it('stepUp: a new token at the raised level; the old one valid until rotatedAt + grace - 1, null from rotatedAt + grace', async () => {
      const { clock, manager, who } = await setup();
      const t0 = clock();
      const first = await manager.issue({ ...who, factorsUsed: ['password'], metadata: { ua: 'a' } });
      const t1 = clock.advance(10 * SECOND);
      const up = await manager.stepUp(first.token, { factorsUsed: ['totp'], assuranceLevel: 2 });
      expect(up).not.toBeNull();
      if (up === null) return;
      expect(up.token).not.toBe(first.token);
      expect(up.session).toMatchObject({ assuranceLevel: 2, factorsUsed: ['password', 'totp'], metadata: { ua: 'a' } });
      expect(up.session.createdAt.getTime()).toBe(t0); // the sign-in time carries over
      clock.set(t1 + GRACE - 1);
      const old = await manager.validate(first.token);
      expect(old).toMatchObject({ rotated: true, assuranceLevel: 1 });
      expect(await manager.stepUp(first.token, { factorsUsed: ['totp'], assuranceLevel: 2 })).toBeNull();
      clock.set(t1 + GRACE);
      expect(await manager.validate(first.token)).toBeNull();
      expect(await manager.validate(up.token)).toMatchObject({ assuranceLevel: 2, rotated: false });
      clock.set(t0 + ABSOLUTE); // the absolute timeout counts from the first sign-in
      expect(await manager.validate(up.token)).toBeNull();
    });

    it('stepUp that lowers the level is INVALID naming assuranceLevel; a timed-out token cannot step up', async () => {
      const { clock, manager, who } = await setup();
      const { token } = await manager.issue({ ...who, assuranceLevel: 2 });
      const error = await manager.stepUp(token, { factorsUsed: ['totp'], assuranceLevel: 1 }).catch((e) => e);
      expect(SessionError.hasCode(error, 'INVALID') && error.field).toBe('assuranceLevel');
      expect(await manager.validate(token)).toMatchObject({ assuranceLevel: 2 });
      clock.advance(IDLE);
      expect(await manager.stepUp(token, { factorsUsed: ['totp'], assuranceLevel: 3 })).toBeNull();
    });

    it('list shows devices, marks the current one, hides sessions rotated out', async () => {
      const { manager, who } = await setup();
      const a = await manager.issue({ ...who, metadata: { ua: 'laptop' } });
      const b = await manager.issue({ ...who, metadata: { ua: 'phone' } });
      const other = await manager.issue(someone());
      const up = await manager.stepUp(a.token, { factorsUsed: ['totp'], assuranceLevel: 2 });
      const devices = await manager.list(who.userId, who.tenantId, up?.token);
      expect(devices.map((d) => d.handle).sort()).toEqual([b.session.handle, up?.session.handle].sort());
      expect(devices.find((d) => d.current)?.handle).toBe(up?.session.handle);
      expect(devices.find((d) => !d.current)?.metadata).toEqual({ ua: 'phone' });
      expect(devices.some((d) => d.handle === other.session.handle)).toBe(false);
    });

    it('revoke(handle) ends it at once, with the predecessor still in grace; owner checks hold', async () => {
      const { store, manager, who } = await setup();
      const a = await manager.issue(who);
      const up = await manager.stepUp(a.token, { factorsUsed: ['totp'], assuranceLevel: 2 });
      if (up === null) throw new Error('stepUp failed');
      const stranger = someone();
      expect(await manager.revoke(up.session.handle, stranger)).toBe(false);
      expect(await manager.validate(up.token)).not.toBeNull();
      expect(await manager.revoke(up.session.handle, who)).toBe(true);
      expect(await manager.validate(up.token)).toBeNull();
      expect(await manager.validate(a.token)).toBeNull(); // the old token in its grace window goes too
      await expectGone(store, a.session.handle);
      expect(await manager.revoke(up.session.handle)).toBe(false);
      expect(await manager.revoke('not a handle')).toBe(false);
    });

    it('signOut, revokeOthers and revokeAll', async () => {
      const { manager, who } = await setup();
      const [a, b, c] = [await manager.issue(who), await manager.issue(who), await manager.issue(who)];
      const other = await manager.issue(someone());
      expect(await manager.revokeOthers(a.token)).toBe(2);
      expect(await manager.validate(b.token)).toBeNull();
      expect(await manager.validate(c.token)).toBeNull();
      expect(await manager.validate(a.token)).not.toBeNull();
      expect(await manager.signOut(a.token)).toBe(true);
      expect(await manager.validate(a.token)).toBeNull();
      const d = await manager.issue(who);
      const e = await manager.issue(who);
      expect(await manager.revokeAll(who.userId, who.tenantId)).toBe(2);
      expect(await manager.validate(d.token)).toBeNull();
      expect(await manager.validate(e.token)).toBeNull();
      expect(await manager.validate(other.token)).not.toBeNull();
    });

    it('two concurrent stepUps of one token: exactly one wins; the other resolves null and leaves no session', async () => {
      const { store, manager, who } = await setup();
      const first = await manager.issue(who);
      const before = store.writes();
      const ups = await Promise.all([
        manager.stepUp(first.token, { factorsUsed: ['totp'], assuranceLevel: 2 }),
        manager.stepUp(first.token, { factorsUsed: ['webauthn'], assuranceLevel: 3 }),
        manager.stepUp(first.token, { factorsUsed: ['sms'], assuranceLevel: 2 }),
      ]);
      const won = ups.filter((u) => u !== null);
      expect(won).toHaveLength(1);
      // In one process the stepUps run one at a time: the losers find the session rotated
      // and write nothing (one mark and one create in all).
      expect(store.writes() - before).toBe(2);
      expect(await manager.validate(won[0]?.token)).toMatchObject({ rotated: false });
      const devices = await manager.list(who.userId, who.tenantId);
      expect(devices.map((d) => d.handle)).toEqual([won[0]?.session.handle]);
      expect(await manager.validate(first.token)).toMatchObject({ rotated: true, assuranceLevel: 1 });
    });

    it('signOut of a token rotated out (in its grace window) also ends its replacement and the whole chain', async () => {
      const { clock, store, manager, who } = await setup();
      const a = await manager.issue(who);
      clock.advance(SECOND);
      const b = await manager.stepUp(a.token, { factorsUsed: ['totp'], assuranceLevel: 2 });
      clock.advance(SECOND);
      const c = await manager.stepUp(b?.token as string, { factorsUsed: ['webauthn'], assuranceLevel: 3 });
      if (b === null || c === null) throw new Error('stepUp failed');
      const other = await manager.issue(who);
      expect(await manager.validate(a.token)).toMatchObject({ rotated: true });
      expect(await manager.signOut(a.token)).toBe(true);
      for (const token of [a.token, b.token, c.token]) expect(await manager.validate(token)).toBeNull();
      for (const handle of [a.session.handle, b.session.handle, c.session.handle]) await expectGone(store, handle);
      expect(await manager.validate(other.token)).not.toBeNull(); // another device of the user stays

      // Backwards too: revoking the newest ends every predecessor still in grace.
      const d = await manager.issue(who);
      const e = await manager.stepUp(d.token, { factorsUsed: ['totp'], assuranceLevel: 2 });
      const f = await manager.stepUp(e?.token as string, { factorsUsed: ['webauthn'], assuranceLevel: 3 });
      if (e === null || f === null) throw new Error('stepUp failed');
      expect(await manager.revoke(f.session.handle, who)).toBe(true);
      for (const token of [d.token, e.token, f.token]) expect(await manager.validate(token)).toBeNull();
      expect(await manager.validate(other.token)).not.toBeNull();
    });

    it('malformed, unknown and non-string tokens validate to null without an error', async () => {
      const { manager } = await setup();
      for (const bad of ['', 'x', 'A'.repeat(43), 'A'.repeat(44), '!'.repeat(43), null, undefined, 42 as never]) {
        expect(await manager.validate(bad)).toBeNull();
      }
    });
  });
}
