// Property: no sequence of issue, validate, stepUp, revoke (signOut, revokeOthers,
// revokeAll) and clock moves lets a revoked, rotated-out or timed-out token validate, and a
// token that once validated to null never validates again. On store-memory and Redis.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionManager } from '../src/index.js';
import { type Backend, manualClock, memoryBackend, redisBackend, someone } from './helpers.js';

const IDLE = 1000;
const ABSOLUTE = 3500;
const TOUCH = 100;
const GRACE = 50;

type Action =
  | { t: 'issue'; user: number }
  | { t: 'validate'; i: number }
  | { t: 'stepUp'; i: number; delta: number }
  | { t: 'revoke'; i: number }
  | { t: 'signOut'; i: number }
  | { t: 'revokeOthers'; i: number }
  | { t: 'revokeAll'; user: number }
  | { t: 'advance'; ms: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ t: fc.constant('issue' as const), user: fc.nat(1) }),
  { arbitrary: fc.record({ t: fc.constant('validate' as const), i: fc.nat() }), weight: 4 },
  {
    arbitrary: fc.record({ t: fc.constant('stepUp' as const), i: fc.nat(), delta: fc.integer({ min: -1, max: 2 }) }),
    weight: 2,
  },
  fc.record({ t: fc.constant('revoke' as const), i: fc.nat() }),
  fc.record({ t: fc.constant('signOut' as const), i: fc.nat() }),
  fc.record({ t: fc.constant('revokeOthers' as const), i: fc.nat() }),
  fc.record({ t: fc.constant('revokeAll' as const), user: fc.nat(1) }),
  {
    arbitrary: fc.record({
      t: fc.constant('advance' as const),
      ms: fc.oneof(
        fc.constantFrom(0, 1, TOUCH - 1, TOUCH, GRACE - 1, GRACE, IDLE - 1, IDLE),
        fc.integer({ min: 0, max: IDLE + 10 }),
      ),
    }),
    weight: 3,
  },
);

interface Model {
  token: string;
  handle: string;
  user: number;
  level: number;
  signInAt: number;
  lastOk: number;
  rotatedAt?: number;
  from?: number;
  dead: boolean;
}

async function runSequence(backend: Backend, actions: Action[]) {
  const clock = manualClock();
  const store = await backend.make(clock);
  const manager = new SessionManager({
    store,
    clock,
    idleTimeoutMs: IDLE,
    absoluteTimeoutMs: ABSOLUTE,
    touchAfterMs: TOUCH,
    rotationGraceMs: GRACE,
  });
  const users = [someone(), someone()];
  const tokens: Model[] = [];
  const pick = (i: number) => (tokens.length === 0 ? undefined : tokens[i % tokens.length]);
  const kill = (m: Model | undefined) => {
    if (m === undefined) return;
    m.dead = true;
    if (m.from !== undefined) (tokens[m.from] as Model).dead = true;
  };
  try {
    for (const a of actions) {
      const now = clock();
      switch (a.t) {
        case 'issue': {
          const { token, session } = await manager.issue({
            ...(users[a.user] as (typeof users)[0]),
            assuranceLevel: 1,
          });
          tokens.push({
            token,
            handle: session.handle,
            user: a.user,
            level: 1,
            signInAt: now,
            lastOk: now,
            dead: false,
          });
          break;
        }
        case 'validate': {
          const m = pick(a.i);
          if (m === undefined) break;
          const session = await manager.validate(m.token);
          const mustBeNull =
            m.dead ||
            now >= m.signInAt + ABSOLUTE ||
            now >= m.lastOk + IDLE ||
            (m.rotatedAt !== undefined && now >= m.rotatedAt + GRACE);
          if (mustBeNull) expect(session, `token ${tokens.indexOf(m)} must not validate`).toBeNull();
          if (session === null) m.dead = true;
          else m.lastOk = now;
          break;
        }
        case 'stepUp': {
          const m = pick(a.i);
          if (m === undefined) break;
          const level = m.level + a.delta;
          const up = await manager.stepUp(m.token, { factorsUsed: ['totp'], assuranceLevel: level }).catch((e) => e);
          if (up instanceof Error) {
            expect(a.delta).toBeLessThan(0);
            break;
          }
          if (up === null) break;
          expect(m.dead).toBe(false);
          m.rotatedAt = now;
          tokens.push({
            token: up.token,
            handle: up.session.handle,
            user: m.user,
            level,
            signInAt: m.signInAt,
            lastOk: now,
            from: tokens.indexOf(m),
            dead: false,
          });
          break;
        }
        case 'revoke': {
          const m = pick(a.i);
          if (m === undefined) break;
          await manager.revoke(m.handle);
          kill(m);
          break;
        }
        case 'signOut': {
          const m = pick(a.i);
          if (m === undefined) break;
          await manager.signOut(m.token);
          kill(m);
          break;
        }
        case 'revokeOthers': {
          const m = pick(a.i);
          if (m === undefined) break;
          if ((await manager.revokeOthers(m.token)) > 0) {
            for (const o of tokens) if (o.user === m.user && o !== m && tokens.indexOf(o) !== m.from) o.dead = true;
          }
          break;
        }
        case 'revokeAll': {
          await manager.revokeAll(users[a.user]?.userId as string, users[a.user]?.tenantId as never);
          for (const o of tokens) if (o.user === a.user) o.dead = true;
          break;
        }
        case 'advance':
          clock.advance(a.ms);
          break;
      }
    }
    // Finally every token the model calls dead is checked once more.
    for (const m of tokens) if (m.dead) expect(await manager.validate(m.token)).toBeNull();
  } finally {
    await store.close();
  }
}

const backends: [string, () => Promise<Backend>, number][] = [
  ['memory', async () => memoryBackend(), 200],
  ['redis', redisBackend, 40],
];

for (const [name, start, numRuns] of backends) {
  describe(`SessionManager properties over ${name}`, () => {
    let backend: Backend;
    beforeAll(async () => {
      backend = await start();
    });
    afterAll(async () => {
      await backend?.stop();
    });
    it('no revoked, rotated-out or timed-out token ever validates', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 60 }), (actions) => runSequence(backend, actions)),
        { numRuns },
      );
    });
  });
}
