import { SessionError } from '../errors.js';
import type { SessionRecord } from '../record.js';
import { hasControlCharacters, isWellFormed, type TenantId, tenantId } from '../tenant.js';
import { checkRecord, resolveRecordRules } from '../validate.js';
import assert from './assert.js';
import { type FastCheck, loadFastCheck } from './fast-check.js';
import { assertSameRecord, expectedRecord, HOUR, ids, MINUTE, type Register, rand, rejectsWith } from './harness.js';

function identifierPairs(fc: FastCheck) {
  const alphabet = fc.constantFrom(
    'a',
    'b',
    ':',
    '|',
    '{',
    '}',
    '%',
    '/',
    ' ',
    '\\',
    '*',
    'é',
    '😀',
    '3',
    'A',
    '_',
    '-',
    '.',
  );
  const delimiterHeavy = fc.string({ unit: alphabet, minLength: 1, maxLength: 8 });
  const anyUnicode = fc
    .string({ unit: 'binary', minLength: 1, maxLength: 12 })
    .filter((s) => !hasControlCharacters(s) && isWellFormed(s));
  const identifier = fc.oneof(delimiterHeavy, anyUnicode);
  const pairs = fc.uniqueArray(fc.tuple(identifier, identifier), {
    minLength: 2,
    maxLength: 5,
    selector: ([t, u]) => JSON.stringify([t, u]),
  });
  return pairs;
}

function shown(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return typeof value;
  }
}

function settledOk(result: PromiseSettledResult<unknown>, allowed: string[], what: string): void {
  if (result.status === 'fulfilled') return;
  const e = result.reason;
  assert.ok(SessionError.isInstance(e), `${what} rejected with a non-SessionError: ${String(e)}`);
  assert.ok(allowed.includes(e.code), `${what} rejected ${e.code} (${e.message}); allowed: ${allowed.join(', ')}`);
}

/** Races: no resurrection, no lost index entries, one winner for one id. */
export function raceTests(test: Register, rounds: number): void {
  test('no resurrection: touch, extend and update racing delete never bring it back', {
    needs: ['revoke', 'mutate'],
  }, async (env) => {
    const { store, clock } = env;
    const base = env.record();
    for (let round = 0; round < rounds; round++) {
      const input = { ...base, createdAt: new Date(clock.now()) };
      const id = await store.create(input);
      const ops: [string, () => Promise<unknown>][] = [
        ['touch', () => store.touch(id)],
        ['extend', () => store.extend(id, HOUR)],
        [
          'update',
          () => store.update({ ...input, id, metadata: { round }, expiresAt: new Date(clock.now() + 2 * HOUR) }),
        ],
        ['touch', () => store.touch(id)],
      ];
      // put the delete at a different place in the batch each round
      const at = round % (ops.length + 1);
      const batch = [...ops.slice(0, at), ['delete', () => store.delete(id)] as const, ...ops.slice(at)];
      const results = await Promise.allSettled(batch.map(([, run]) => run()));
      results.forEach((r, i) => settledOk(r, ['NOT_FOUND'], batch[i]?.[0] ?? 'op'));
      assert.equal(await store.get(id), null, `round ${round}: the deleted session came back`);
      if (env.caps.list) {
        assert.ok(
          !ids(await store.listByUser(base.userId, base.tenantId)).includes(id),
          `round ${round}: still listed`,
        );
      }
    }
  });

  test('no resurrection: mutations racing deleteByUser never bring sessions back', {
    needs: ['revokeUser', 'mutate'],
  }, async (env) => {
    const { store, clock } = env;
    for (let round = 0; round < rounds; round++) {
      const base = env.record();
      const sessions: string[] = [];
      const inputs: SessionRecord[] = [];
      for (let i = 0; i < 3; i++) {
        const input = { ...base, createdAt: new Date(clock.now() - i) };
        inputs.push(input);
        sessions.push(await store.create(input));
      }
      // Thunks, called in the batch's order: deleteByUser moves along the batch from round
      // to round, so some rounds call it before every mutation and some after.
      const mutations: [string, () => Promise<unknown>][] = [];
      sessions.forEach((id, i) => {
        mutations.push([`touch ${i}`, () => store.touch(id)], [`extend ${i}`, () => store.extend(id, HOUR)]);
        mutations.push([
          `update ${i}`,
          () =>
            store.update({
              ...(inputs[i] as SessionRecord),
              id,
              metadata: { round },
              expiresAt: new Date(clock.now() + 2 * HOUR),
            }),
        ]);
      });
      // spread over the rounds: the first round calls it first, the last round last
      const at = rounds > 1 ? Math.round((round * mutations.length) / (rounds - 1)) : round % (mutations.length + 1);
      const batch: [string, () => Promise<unknown>][] = [
        ...mutations.slice(0, at),
        ['deleteByUser', () => store.deleteByUser(base.userId, base.tenantId)],
        ...mutations.slice(at),
      ];
      const results = await Promise.allSettled(batch.map(([, run]) => run()));
      results.forEach((r, i) => settledOk(r, ['NOT_FOUND'], batch[i]?.[0] ?? 'op'));
      for (const id of sessions) assert.equal(await store.get(id), null, `round ${round}: a session came back`);
      if (env.caps.list) assert.deepStrictEqual(await store.listByUser(base.userId, base.tenantId), []);
    }
  });

  test('no lost index entries: concurrent creates and deletes leave listByUser exact', {
    needs: ['revoke', 'list'],
  }, async (env) => {
    const { store, clock } = env;
    const base = env.record();
    const initial: string[] = [];
    for (let i = 0; i < 10; i++)
      initial.push(await store.create({ ...base, createdAt: new Date(clock.now() - 100_000 + i) }));
    for (let round = 0; round < Math.max(1, Math.ceil(rounds / 2)); round++) {
      const toDelete = new Set(initial.filter((_, i) => i % 2 === round % 2));
      const created: Promise<string>[] = [];
      const deletes: Promise<void>[] = [];
      let k = 0;
      for (const id of initial) {
        if (toDelete.has(id)) deletes.push(store.delete(id));
        created.push(store.create({ ...base, createdAt: new Date(clock.now() - 50_000 + round * 100 + k++) }));
      }
      const createdIds = await Promise.all(created);
      await Promise.all(deletes);
      // delete half of the new ones right away, while creating more
      const second = await Promise.all([
        ...createdIds.filter((_, i) => i % 3 === 0).map((id) => store.delete(id).then(() => null)),
        ...Array.from({ length: 5 }, (_, i) =>
          store.create({ ...base, createdAt: new Date(clock.now() - 50_000 + 50 + round * 100 + i) }),
        ),
      ]);
      const removed = new Set([...toDelete, ...createdIds.filter((_, i) => i % 3 === 0)]);
      const expected = new Set(
        [...initial, ...createdIds, ...(second.filter(Boolean) as string[])].filter((id) => !removed.has(id)),
      );
      const listed = ids(await store.listByUser(base.userId, base.tenantId));
      assert.equal(new Set(listed).size, listed.length, 'listByUser returned a duplicate');
      assert.deepStrictEqual([...listed].sort(), [...expected].sort(), `round ${round}: listByUser is not exact`);
      initial.splice(0, initial.length, ...expected);
    }
  });

  test('concurrent creates with one caller-chosen id: exactly one wins, the rest CONFLICT', {
    needs: ['customIds'],
  }, async (env) => {
    for (let round = 0; round < rounds; round++) {
      const id = `race-${rand()}`;
      const inputs = Array.from({ length: 6 }, (_, i) => env.record({ id, metadata: { writer: i } }));
      const results = await Promise.allSettled(inputs.map((r) => env.store.create(r)));
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      assert.equal(winners.length, 1, `round ${round}: ${winners.length} creates succeeded`);
      results.forEach((r) => settledOk(r, ['CONFLICT'], 'create'));
      const winner = inputs[winners[0] as number] as SessionRecord;
      assertSameRecord(await env.store.get(id), expectedRecord(winner, id), 'the stored session is the winner');
      if (env.caps.list) assert.deepStrictEqual(ids(await env.store.listByUser(winner.userId, winner.tenantId)), [id]);
    }
  });

  test('concurrent extends and touches all land on a live session', { needs: ['mutate'] }, async (env) => {
    const input = env.record();
    const id = await env.store.create(input);
    env.clock.advance(MINUTE);
    const durations = [MINUTE, 2 * MINUTE, 3 * MINUTE, 4 * MINUTE];
    await Promise.all([...durations.map((d) => env.store.extend(id, d)), env.store.touch(id), env.store.touch(id)]);
    const got = await env.store.get(id);
    assert.ok(got);
    assert.ok(
      durations.map((d) => env.clock.now() + d).includes(got.expiresAt.getTime()),
      'expiresAt is one of the extends',
    );
    assert.equal(got.lastActivityAt.getTime(), env.clock.now());
    assert.equal(
      got.metadata === null ? null : JSON.stringify(got.metadata),
      JSON.stringify(expectedRecord(input, id).metadata),
    );
  });
}

/** Pairs that collide under naive key building (`${tenant}:${user}` and friends). */
const COLLIDING: [string, string][][] = [
  [
    ['a:b', 'c'],
    ['a', 'b:c'],
  ],
  [
    ['a|b', 'c'],
    ['a', 'b|c'],
  ],
  [
    ['{x}', 'y'],
    ['x', '{y}'],
    ['{x}y', ''],
  ],
  [
    ['t', 'u%3Av'],
    ['t', 'u:v'],
    ['t%3Au', 'v'],
  ],
  [
    ['a/b', 'c'],
    ['a', 'b/c'],
  ],
  [
    ['ten ant', 'user'],
    ['ten', 'ant user'],
    ['ten_ant', 'user'],
  ],
  [
    ['ab', 'c'],
    ['a', 'bc'],
    ['abc', 'x'],
  ],
  [
    ['é', 'u'],
    ['e\u0301', 'u'],
    ['E', 'u'],
    ['e', 'u'],
  ],
  [
    ['*', 'u'],
    ['?', 'u'],
    ['[a]', 'u'],
    ['\\', 'u'],
  ],
];

export function isolationTests(test: Register, propertyRuns: number): void {
  test('tenant isolation: ids that collide under naive key building stay apart', {}, async (env) => {
    const { store, caps, clock } = env;
    // The salt goes before the tenant and after the user, so that the pairs of a group
    // still collide once salted: `S` + `a:b` and `c` + `S` join as `Sa:b:cS`, exactly
    // like `Sa` and `b:cS`. (A pair with an empty user joins its tenant with the salt.)
    const salt = rand();
    for (const group of COLLIDING) {
      const pairs = group.map(([t, u]) =>
        u === ''
          ? { tenant: tenantId(`${salt}${t}`), user: salt }
          : { tenant: tenantId(`${salt}${t}`), user: `${u}${salt}` },
      );
      const made = [];
      for (const { tenant, user } of pairs) {
        const input = env.record({ tenantId: tenant, userId: user });
        made.push({ tenant, user, id: await store.create(input), input });
      }
      for (const m of made) {
        assertSameRecord(await store.get(m.id), expectedRecord(m.input, m.id), `${m.tenant}/${m.user}`);
        if (caps.list)
          assert.deepStrictEqual(ids(await store.listByUser(m.user, m.tenant)), [m.id], `list ${m.tenant}/${m.user}`);
      }
      if (caps.revokeUser) {
        const [first, ...rest] = made;
        if (!first) continue;
        await store.deleteByUser(first.user, first.tenant);
        assert.equal(await store.get(first.id), null);
        for (const m of rest)
          assert.ok(await store.get(m.id), `deleteByUser(${first.tenant}/${first.user}) hit ${m.tenant}/${m.user}`);
        clock.advance(1);
      }
    }
  });

  test('tenant isolation: the same user id in two tenants never shares data', {}, async (env) => {
    const user = `shared-${rand()}`;
    const a = env.record({ userId: user, tenantId: tenantId(`A-${rand()}`), metadata: { tenant: 'A' } });
    const b = env.record({ userId: user, tenantId: tenantId(`B-${rand()}`), metadata: { tenant: 'B' } });
    const idA = await env.store.create(a);
    const idB = await env.store.create(b);
    assertSameRecord(await env.store.get(idA), expectedRecord(a, idA), 'tenant A reads its own record');
    assertSameRecord(await env.store.get(idB), expectedRecord(b, idB), 'tenant B reads its own record');
    if (env.caps.list) {
      assert.deepStrictEqual(ids(await env.store.listByUser(user, a.tenantId)), [idA]);
      assert.deepStrictEqual(ids(await env.store.listByUser(user, b.tenantId)), [idB]);
    }
    if (env.caps.revokeUser) {
      await env.store.deleteByUser(user, a.tenantId);
      assert.equal(await env.store.get(idA), null);
      assertSameRecord(await env.store.get(idB), expectedRecord(b, idB));
    }
  });

  test('property: random tenant and user ids never share sessions', {}, async (env) => {
    const fc = await loadFastCheck();
    const pairs = identifierPairs(fc);
    const { store, caps, clock } = env;
    await fc.assert(
      fc.asyncProperty(pairs, async (generated) => {
        const made: { tenant: TenantId; user: string; id: string }[] = [];
        for (const [t, u] of generated) {
          const tenant = tenantId(t);
          made.push({ tenant, user: u, id: await store.create(env.record({ tenantId: tenant, userId: u })) });
        }
        for (const m of made) {
          const got = await store.get(m.id);
          assert.ok(got && got.userId === m.user && got.tenantId === m.tenant, 'get returns the right owner');
          if (caps.list) assert.deepStrictEqual(ids(await store.listByUser(m.user, m.tenant)), [m.id]);
        }
        if (caps.revokeUser) {
          const [first, ...rest] = made;
          if (first) {
            await store.deleteByUser(first.user, first.tenant);
            assert.equal(await store.get(first.id), null);
            for (const m of rest) assert.ok(await store.get(m.id), 'deleteByUser reached another (tenant, user)');
          }
        }
        // leave nothing behind for the next run
        for (const m of made) {
          if (caps.revokeUser) await store.deleteByUser(m.user, m.tenant);
          else if (caps.revoke) await store.delete(m.id);
        }
        clock.advance(1);
      }),
      { numRuns: propertyRuns },
    );
  });
}

function recordFieldsArbitrary(fc: FastCheck) {
  const text = fc.string({ unit: 'binary', maxLength: 20 }).filter((s) => !hasControlCharacters(s) && isWellFormed(s));
  const nonEmpty = text.filter((s) => s.length > 0);
  const metadata = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.parse(JSON.stringify(v)));
  return fc.record({
    userId: nonEmpty,
    tenant: nonEmpty,
    transactionId: text,
    factorsUsed: fc.array(text, { maxLength: 4 }),
    assuranceLevel: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    metadata,
    createdOffset: fc.integer({ min: -30 * 24 * HOUR, max: 0 }),
    lifetime: fc.integer({ min: 1, max: 30 * 24 * HOUR }),
    activityOffset: fc.integer({ min: -HOUR, max: HOUR }),
  });
}

export function propertyTests(test: Register, propertyRuns: number): void {
  test('property: any valid record round-trips exactly through create and get', {}, async (env) => {
    const fc = await loadFastCheck();
    const recordFields = recordFieldsArbitrary(fc);
    await fc.assert(
      fc.asyncProperty(recordFields, async (f) => {
        const now = env.clock.now();
        const createdAt = now + f.createdOffset;
        const input: SessionRecord = {
          id: '',
          userId: f.userId,
          tenantId: tenantId(f.tenant),
          transactionId: f.transactionId,
          factorsUsed: f.factorsUsed,
          assuranceLevel: f.assuranceLevel,
          metadata: f.metadata,
          createdAt: new Date(createdAt),
          expiresAt: new Date(Math.max(now, createdAt) + f.lifetime),
          lastActivityAt: new Date(now + f.activityOffset),
        };
        const id = await env.store.create(input);
        assertSameRecord(await env.store.get(id), expectedRecord(input, id), 'round trip');
        if (env.caps.revoke) await env.store.delete(id);
      }),
      { numRuns: propertyRuns },
    );
  });

  test('property: update round-trips any valid mutable fields', { needs: ['mutate'] }, async (env) => {
    const fc = await loadFastCheck();
    const recordFields = recordFieldsArbitrary(fc);
    const input = env.record();
    const id = await env.store.create(input);
    await fc.assert(
      fc.asyncProperty(recordFields, async (f) => {
        const next: SessionRecord = {
          ...input,
          id,
          transactionId: f.transactionId,
          factorsUsed: f.factorsUsed,
          assuranceLevel: f.assuranceLevel,
          metadata: f.metadata,
          expiresAt: new Date(env.clock.now() + f.lifetime),
          lastActivityAt: new Date(env.clock.now() + f.activityOffset),
        };
        await env.store.update(next);
        assertSameRecord(await env.store.get(id), next, 'after update');
      }),
      { numRuns: propertyRuns },
    );
  });

  test("property: whenever core's validation rejects a record, the store rejects it INVALID", {}, async (env) => {
    // Core's validation is the oracle: a store must reject exactly what it rejects (a
    // store that coerces `assuranceLevel: '1'` or `userId: 42` and stores it fails), and
    // store what it accepts exactly as validated.
    const fc = await loadFastCheck();
    const oracle = resolveRecordRules('oracle', { clock: env.clock.now });
    const junk = fc.oneof(fc.anything(), fc.string({ unit: 'binary' }), fc.constant(undefined));
    const fields = [
      'userId',
      'tenantId',
      'transactionId',
      'factorsUsed',
      'assuranceLevel',
      'metadata',
      'createdAt',
      'expiresAt',
      'lastActivityAt',
    ] as const;
    const now = env.clock.now();
    // near misses first: values a lenient store would coerce
    const examples: [string, unknown][] = [
      ['assuranceLevel', '1'],
      ['assuranceLevel', true],
      ['assuranceLevel', 1n],
      ['userId', 42],
      ['tenantId', 42],
      ['transactionId', null],
      ['factorsUsed', ['password', 2]],
      ['factorsUsed', { 0: 'password', length: 1 }],
      ['createdAt', now - 1],
      ['createdAt', new Date(now - 1).toISOString()],
      ['expiresAt', now + HOUR],
      ['lastActivityAt', now],
      ['lastActivityAt', new Date(now).toISOString()],
      ['lastActivityAt', { getTime: () => now }],
      ['metadata', { when: new Date(now) }],
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...fields), junk, async (field, value) => {
        const input = env.record() as unknown as Record<string, unknown>;
        input[field] = value;
        let expected: SessionRecord | undefined;
        try {
          expected = checkRecord(oracle, input, { operation: 'create' }).record;
        } catch (error) {
          if (!SessionError.hasCode(error, 'INVALID')) throw error;
        }
        if (expected === undefined) {
          await rejectsWith(() => env.store.create(input as unknown as SessionRecord), 'INVALID');
          return;
        }
        const id = await env.store.create(input as unknown as SessionRecord);
        assertSameRecord(await env.store.get(id), expectedRecord(expected, id), `with ${field} = ${shown(value)}`);
        if (env.caps.revoke) await env.store.delete(id);
      }),
      { numRuns: propertyRuns * 4, examples: examples as [never, unknown][] },
    );
    await rejectsWith(
      () => env.store.create({ ...env.record(), metadata: { big: 1n } as never }),
      'INVALID',
      'metadata',
    );
  });
}
