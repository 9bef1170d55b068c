// stepUp writes the new session, then cuts the old one short. When that second write
// fails, the new session is deleted again and stepUp rejects STORAGE: no second live
// session is left behind, and the old token keeps working (it was never rotated).
// The fault is injected around a real store-memory (its update rejects as a backend would).
import { SessionError } from '@sessionkit/core';
import { MemorySessionStore } from '@sessionkit/store-memory';
import { describe, expect, it } from 'vitest';
import { SessionManager } from '../src/index.js';
import { someone } from './helpers.js';

describe('stepUp when cutting the old session short fails', () => {
  it('rejects STORAGE, removes the new session and leaves the old token as it was', async () => {
    const real = new MemorySessionStore();
    let failUpdate = false;
    const store = new Proxy(real, {
      get(target, key) {
        const value = Reflect.get(target, key, target);
        if (key === 'update') {
          return (...args: unknown[]) =>
            failUpdate
              ? Promise.reject(
                  new SessionError('STORAGE', 'backend failed: injected', {
                    store: 'memory',
                    cause: new Error('injected'),
                  }),
                )
              : (value as (...a: unknown[]) => Promise<void>).apply(target, args);
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const manager = new SessionManager({ store });
    const who = someone();
    const { token } = await manager.issue(who);
    failUpdate = true;
    const error = await manager.stepUp(token, { factorsUsed: ['totp'], assuranceLevel: 2 }).catch((e) => e);
    expect(SessionError.hasCode(error, 'STORAGE')).toBe(true);
    const devices = await manager.list(who.userId, who.tenantId);
    expect(devices).toHaveLength(1);
    expect(await manager.validate(token)).toMatchObject({ assuranceLevel: 1, rotated: false });
    failUpdate = false;
    expect(await manager.stepUp(token, { factorsUsed: ['totp'], assuranceLevel: 2 })).not.toBeNull();
  });
});

/** store-memory whose `create` runs `before` first (a fault, or another call racing in). */
function hookedCreate() {
  const real = new MemorySessionStore();
  const hook: { before?: () => Promise<void> } = {};
  const store = new Proxy(real, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (key === 'create') {
        return async (...args: unknown[]) => {
          const before = hook.before;
          hook.before = undefined;
          if (before !== undefined) await before();
          return (value as (...a: unknown[]) => Promise<string>).apply(target, args);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store, hook };
}

describe('stepUp when writing the new session fails', () => {
  it('rejects STORAGE and puts the old session back as it was (not rotated out)', async () => {
    const { store, hook } = hookedCreate();
    const manager = new SessionManager({ store });
    const who = someone();
    const { token } = await manager.issue(who);
    hook.before = () =>
      Promise.reject(
        new SessionError('STORAGE', 'backend failed: injected', { store: 'memory', cause: new Error('x') }),
      );
    const error = await manager.stepUp(token, { factorsUsed: ['totp'], assuranceLevel: 2 }).catch((e) => e);
    expect(SessionError.hasCode(error, 'STORAGE')).toBe(true);
    expect(await manager.validate(token)).toMatchObject({ assuranceLevel: 1, rotated: false });
    expect(await manager.list(who.userId, who.tenantId)).toHaveLength(1);
    expect(await manager.stepUp(token, { factorsUsed: ['totp'], assuranceLevel: 2 })).not.toBeNull();
  });
});

describe('stepUp racing a signOut of the old token', () => {
  it('a signOut after the old session was marked, before the new one exists: stepUp resolves null and leaves no session', async () => {
    const { store, hook } = hookedCreate();
    const manager = new SessionManager({ store });
    const who = someone();
    const { token } = await manager.issue(who);
    let signedOut: boolean | undefined;
    hook.before = async () => {
      signedOut = await manager.signOut(token);
    };
    expect(await manager.stepUp(token, { factorsUsed: ['totp'], assuranceLevel: 2 })).toBeNull();
    expect(signedOut).toBe(true);
    expect(await store.listByUser(who.userId, who.tenantId)).toEqual([]);
    expect(await manager.validate(token)).toBeNull();
  });
});

describe('stepUp from two processes at once', () => {
  it('two managers on one store stepping up the same token together: one wins, the other leaves nothing', async () => {
    const store = new MemorySessionStore();
    const [p1, p2] = [new SessionManager({ store }), new SessionManager({ store })];
    const who = someone();
    const { token } = await p1.issue(who);
    const ups = await Promise.all([
      p1.stepUp(token, { factorsUsed: ['totp'], assuranceLevel: 2 }),
      p2.stepUp(token, { factorsUsed: ['totp'], assuranceLevel: 2 }),
    ]);
    const won = ups.filter((u) => u !== null);
    expect(won).toHaveLength(1);
    const live = (await p1.list(who.userId, who.tenantId)).map((d) => d.handle);
    expect(live).toEqual([won[0]?.session.handle]);
    expect(await store.listByUser(who.userId, who.tenantId)).toHaveLength(2); // the winner and the old one in grace
  });
});
