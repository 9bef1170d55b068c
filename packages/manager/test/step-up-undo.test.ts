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
