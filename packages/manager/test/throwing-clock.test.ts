// A clock that throws: every public method settles with a SessionError, never a plain
// error. Methods that read the clock reject STORAGE with the clock's error as the cause;
// the others (handleOf, revoke, signOut on a stored session, revokeAll) never read it.
import { SessionError, type SessionStore } from '@sessionkit/core';
import { JwtSessionStore, MemoryRevocationStore } from '@sessionkit/store-jwt';
import { MemorySessionStore } from '@sessionkit/store-memory';
import { describe, expect, it } from 'vitest';
import { SessionManager } from '../src/index.js';
import { someone } from './helpers.js';

/** A real clock until `fail` is set; then it throws `fail`'s value. */
function breakableClock() {
  const state: { fail?: unknown } = {};
  const clock = () => {
    if ('fail' in state) throw state.fail;
    return Date.now();
  };
  return Object.assign(clock, { state });
}

async function settle(
  promise: Promise<unknown>,
): Promise<{ ok: true; value: unknown } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

const thrown = [new Error('clock broke'), 'a string, not an Error'];

describe('SessionManager with a clock that throws', () => {
  for (const value of thrown) {
    it(`rejects STORAGE with the cause from every method that reads the clock (throws ${typeof value})`, async () => {
      const clock = breakableClock();
      const manager = new SessionManager({ store: new MemorySessionStore(), clock });
      const who = someone();
      const a = await manager.issue(who);
      const b = await manager.issue(who);
      clock.state.fail = value;
      const readers: [string, () => Promise<unknown>][] = [
        ['issue', () => manager.issue(who)],
        ['validate', () => manager.validate(a.token)],
        ['stepUp', () => manager.stepUp(a.token, { factorsUsed: ['totp'], assuranceLevel: 2 })],
        ['list', () => manager.list(who.userId, who.tenantId, a.token)],
        ['revokeOthers', () => manager.revokeOthers(a.token)],
      ];
      for (const [name, call] of readers) {
        const result = await settle(call());
        expect(result.ok, `${name} must reject`).toBe(false);
        if (result.ok) continue;
        expect(SessionError.hasCode(result.error, 'STORAGE'), `${name} must reject STORAGE`).toBe(true);
        expect((result.error as SessionError).cause, name).toBe(value);
      }
      // The rest never read the clock: they work.
      expect(await manager.handleOf(a.token)).toBe(a.session.handle);
      expect(await manager.revoke(b.session.handle)).toBe(true);
      expect(await manager.signOut(a.token)).toBe(true);
      expect(await manager.revokeAll(who.userId, who.tenantId)).toBe(0);
      delete clock.state.fail;
      expect(await manager.validate(a.token)).toBeNull();
    });
  }

  it('rejects only SessionErrors when the store shares the throwing clock', async () => {
    const clock = breakableClock();
    const stores: SessionStore[] = [
      new MemorySessionStore({ clock }),
      new JwtSessionStore({
        secret: 'a test secret that is at least thirty-two bytes long',
        clock,
        revocations: new MemoryRevocationStore(),
      }),
    ];
    for (const store of stores) {
      const manager = new SessionManager({ store, clock });
      const who = someone();
      const a = await manager.issue(who);
      clock.state.fail = new Error('clock broke');
      const calls: [string, () => Promise<unknown>][] = [
        ['handleOf', () => manager.handleOf(a.token)],
        ['issue', () => manager.issue(who)],
        ['validate', () => manager.validate(a.token)],
        ['stepUp', () => manager.stepUp(a.token, { factorsUsed: ['totp'], assuranceLevel: 2 })],
        ['list', () => manager.list(who.userId, who.tenantId, a.token)],
        ['revoke', () => manager.revoke(a.session.handle)],
        ['signOut', () => manager.signOut(a.token)],
        ['revokeOthers', () => manager.revokeOthers(a.token)],
        ['revokeAll', () => manager.revokeAll(who.userId, who.tenantId)],
      ];
      for (const [name, call] of calls) {
        const result = await settle(call());
        if (!result.ok)
          expect(SessionError.isInstance(result.error), `${name} on ${manager.stateless ? 'jwt' : 'memory'}`).toBe(
            true,
          );
      }
      // validate must fail closed: never a null that reads as "signed out".
      const validated = await settle(manager.validate(a.token));
      expect(validated.ok).toBe(false);
      delete clock.state.fail;
    }
  });
});
