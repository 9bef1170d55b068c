// Over store-jwt (stateless): issue, validate, signOut and revokeAll (through its
// revocation store) work; the rest rejects UNSUPPORTED. Sessions cannot slide there, so a
// token is over at the sooner of createdAt + idleTimeoutMs and createdAt + absoluteTimeoutMs.
import { SessionError } from '@sessionkit/core';
import { JwtSessionStore, MemoryRevocationStore } from '@sessionkit/store-jwt';
import { describe, expect, it } from 'vitest';
import { SessionManager } from '../src/index.js';
import { manualClock, someone } from './helpers.js';

const SECRET = 'a test secret that is at least thirty-two bytes long';
const IDLE = 30 * 60_000;

function setup(revocable = true) {
  const clock = manualClock();
  const store = new JwtSessionStore({
    secret: SECRET,
    clock,
    ...(revocable ? { revocations: new MemoryRevocationStore() } : {}),
  });
  return { clock, store, manager: new SessionManager({ store, clock }), who: someone() };
}

describe('SessionManager over store-jwt', () => {
  it('issues the signed token and validates it until createdAt + idleTimeoutMs (no sliding)', async () => {
    const { clock, manager, who } = setup();
    expect(manager.stateless).toBe(true);
    const t0 = clock();
    const { token, session } = await manager.issue({ ...who, assuranceLevel: 2, metadata: { ua: 'x' } });
    expect(session.handle).toBe(await manager.handleOf(token));
    clock.set(t0 + IDLE - 1);
    expect(await manager.validate(token)).toMatchObject({
      userId: who.userId,
      assuranceLevel: 2,
      metadata: { ua: 'x' },
    });
    clock.set(t0 + IDLE);
    expect(await manager.validate(token)).toBeNull();
  });

  it('signOut and revokeAll go through the revocation store', async () => {
    const { manager, who } = setup();
    const a = await manager.issue(who);
    const b = await manager.issue(who);
    expect(await manager.signOut(a.token)).toBe(true);
    expect(await manager.validate(a.token)).toBeNull();
    expect(await manager.validate(b.token)).not.toBeNull();
    expect(await manager.revokeAll(who.userId, who.tenantId)).toBe(0); // stateless tokens cannot be counted
    expect(await manager.validate(b.token)).toBeNull();
  });

  it('stepUp, list, revoke(handle) and revokeOthers reject UNSUPPORTED; without revocations signOut does too', async () => {
    const { manager, who } = setup();
    const { token, session } = await manager.issue(who);
    for (const call of [
      () => manager.stepUp(token, { factorsUsed: ['totp'], assuranceLevel: 2 }),
      () => manager.list(who.userId, who.tenantId),
      () => manager.revoke(session.handle),
      () => manager.revokeOthers(token),
    ]) {
      expect(SessionError.hasCode(await call().catch((e) => e), 'UNSUPPORTED')).toBe(true);
    }
    const bare = setup(false);
    const issued = await bare.manager.issue(bare.who);
    expect(SessionError.hasCode(await bare.manager.signOut(issued.token).catch((e) => e), 'UNSUPPORTED')).toBe(true);
  });
});
