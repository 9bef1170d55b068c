import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { SessionError, type SessionRecord, tenantId } from '@sessionkit/core';
import * as jose from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  JwtSessionStore,
  type JwtSessionStoreOptions,
  MemoryRevocationStore,
  type RevocationStore,
} from '../src/index.js';
import { ecdsaTwin, HOUR, hmacToken, parts, record, TestClock } from './helpers.js';

const secret = randomBytes(32);

function isCode(code: string) {
  return (e: unknown) => SessionError.hasCode(e, code as never);
}

/** Runs each operation and expects it to reject STORAGE with `cause` as the cause; returns the errors. */
async function expectStorageErrors(runs: (() => Promise<unknown>)[], cause: unknown): Promise<SessionError[]> {
  const errors: SessionError[] = [];
  for (const run of runs) {
    const error = await run().catch((e: unknown) => e);
    expect(SessionError.hasCode(error, 'STORAGE')).toBe(true);
    expect((error as SessionError).cause).toBe(cause);
    errors.push(error as SessionError);
  }
  return errors;
}

function expectSame(got: SessionRecord | null, input: SessionRecord, id: string): void {
  expect(got).not.toBeNull();
  expect(got).toStrictEqual({ ...input, id });
}

describe('fidelity and interop', () => {
  it('round-trips the record exactly: Dates to the ms, metadata as JSON', async () => {
    const clock = new TestClock();
    const store = new JwtSessionStore({ secret, clock: clock.now });
    const input = record(clock, {
      createdAt: new Date(clock.now() - 1234),
      lastActivityAt: new Date(clock.now() + 7),
      expiresAt: new Date(clock.now() + HOUR + 999),
      metadata: { n: [1.5, -0, 1e21], s: 'ünï 😀 \u0000 "q"', lone: '\ud800', nested: { a: [null, true] } },
      factorsUsed: [],
      transactionId: '',
      assuranceLevel: -(2 ** 31),
    });
    const id = await store.create(input);
    const got = await store.get(id);
    expect(got?.metadata).toStrictEqual(JSON.parse(JSON.stringify(input.metadata)));
    expectSame(got, { ...input, metadata: JSON.parse(JSON.stringify(input.metadata)) }, id);
  });

  it('every token carries a fresh random jti, even for the same record', async () => {
    const clock = new TestClock();
    const store = new JwtSessionStore({ secret, clock: clock.now });
    const input = record(clock);
    const jtis = new Set<unknown>();
    for (let i = 0; i < 50; i++) jtis.add(parts(await store.create(input)).payload.jti);
    expect(jtis.size).toBe(50);
    for (const jti of jtis) expect(jti).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('HS256 tokens verify with jose (docs usage) and carry standard claims; exp is rounded up', async () => {
    const clock = new TestClock();
    const store = new JwtSessionStore({ secret, clock: clock.now, issuer: 'iss-1', audience: 'aud-1' });
    const input = record(clock, { expiresAt: new Date(clock.now() + HOUR + 1) });
    const token = await store.create(input);
    const { payload, protectedHeader } = await jose.jwtVerify(token, new Uint8Array(secret), {
      algorithms: ['HS256'],
      issuer: 'iss-1',
      audience: 'aud-1',
      currentDate: new Date(clock.now()),
    });
    expect(protectedHeader).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(payload.sub).toBe(input.userId);
    expect(payload.tid).toBe(input.tenantId);
    expect(payload.exp).toBe(Math.ceil(input.expiresAt.getTime() / 1000));
    expect(payload.exp! * 1000).toBeGreaterThan(input.expiresAt.getTime());
    expect(payload.iat).toBe(Math.floor(clock.now() / 1000));
    expect(payload.eat).toBe(input.expiresAt.getTime());
    expect(payload.sat).toBe(clock.now());
    expect(payload.amr).toEqual(input.factorsUsed);
  });

  it('tokens signed by jose with the same secret and claims are accepted', async () => {
    const clock = new TestClock();
    const store = new JwtSessionStore({ secret, clock: clock.now });
    const now = clock.now();
    const token = await new jose.SignJWT({
      tid: 'acme',
      sat: now,
      cat: now,
      eat: now + HOUR,
      lat: now,
      txn: 't',
      amr: [],
      aal: 1,
      md: null,
    })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u1')
      .setJti('jti-1')
      .setExpirationTime(Math.ceil((now + HOUR) / 1000))
      .sign(new Uint8Array(secret));
    const got = await store.get(token);
    expect(got?.userId).toBe('u1');
    expect(got?.tenantId).toBe('acme');
  });

  it('ES256 and EdDSA tokens verify with jose against the public key; kid is the JWK thumbprint', async () => {
    for (const alg of ['ES256', 'EdDSA'] as const) {
      const pair = await jose.generateKeyPair(alg);
      const clock = new TestClock();
      const store = new JwtSessionStore({ keys: [{ privateKey: pair.privateKey }], clock: clock.now });
      const token = await store.create(record(clock));
      const { protectedHeader } = await jose.jwtVerify(token, pair.publicKey, {
        algorithms: [alg],
        currentDate: new Date(clock.now()),
      });
      expect(protectedHeader.alg).toBe(alg);
      expect(protectedHeader.kid).toBe(await jose.calculateJwkThumbprint(await jose.exportJWK(pair.publicKey)));
      // and jose-signed tokens with that kid are accepted by the store
      const now = clock.now();
      const theirs = await new jose.SignJWT({
        tid: 't',
        sat: now,
        cat: now,
        eat: now + HOUR,
        lat: now,
        txn: '',
        amr: [],
        aal: 0,
        md: {},
      })
        .setProtectedHeader({ alg, kid: protectedHeader.kid })
        .setSubject('s')
        .setJti('j')
        .setExpirationTime(Math.ceil((now + HOUR) / 1000))
        .sign(pair.privateKey);
      if (alg === 'EdDSA') expect((await store.get(theirs))?.userId).toBe('s');
      else {
        // WebCrypto (so jose) gives either s at random; the store accepts only the low-s spelling
        expect((await store.get(ecdsaTwin(theirs, 'low')))?.userId).toBe('s');
        expect(await store.get(ecdsaTwin(theirs, 'high'))).toBeNull();
      }
    }
  });

  it('keys are accepted as CryptoKey, KeyObject, JWK and PEM', async () => {
    const clock = new TestClock();
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forms: JwtSessionStoreOptions['keys'][] = [
      [{ privateKey: ec.privateKey }],
      [{ privateKey: ec.privateKey.export({ format: 'jwk' }) }],
      [{ privateKey: ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string }],
      [
        {
          privateKey: await jose.importPKCS8(ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 'ES256'),
        },
      ],
    ];
    const verifier = new JwtSessionStore({
      keys: [{ privateKey: ec.privateKey, kid: 'k' }, { publicKey: ec.publicKey }],
      clock: clock.now,
    });
    for (const keys of forms) {
      const store = new JwtSessionStore({ keys, clock: clock.now });
      const token = await store.create(record(clock));
      expect(await store.get(token)).not.toBeNull();
      // a verify-only public key (kid derived the same way) accepts it too
      expect(await verifier.get(token)).not.toBeNull();
    }
  });

  it('JWE tokens decrypt with jose (dir + A256GCM, nested signed JWT)', async () => {
    const clock = new TestClock();
    const encKey = randomBytes(32);
    const store = new JwtSessionStore({ secret, encrypt: { secret: encKey, kid: 'enc-1' }, clock: clock.now });
    const input = record(clock);
    const token = await store.create(input);
    const { plaintext, protectedHeader } = await jose.compactDecrypt(token, new Uint8Array(encKey));
    expect(protectedHeader).toEqual({ alg: 'dir', enc: 'A256GCM', cty: 'JWT', kid: 'enc-1' });
    const innerToken = new TextDecoder().decode(plaintext);
    const { payload } = await jose.jwtVerify(innerToken, new Uint8Array(secret), {
      currentDate: new Date(clock.now()),
    });
    expect(payload.sub).toBe(input.userId);
    expectSame(await store.get(token), input, token);
    // and a JWE made by jose around our inner token is accepted
    const theirs = await new jose.CompactEncrypt(new TextEncoder().encode(innerToken))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: 'JWT' })
      .encrypt(new Uint8Array(encKey));
    expect((await store.get(theirs))?.userId).toBe(input.userId);
  });

  it('a string encryption secret is stretched with HKDF; two stores with it interoperate', async () => {
    const clock = new TestClock();
    const a = new JwtSessionStore({
      secret,
      encrypt: { secret: 'an encryption passphrase of 32+ bytes!!' },
      clock: clock.now,
    });
    const b = new JwtSessionStore({
      secret,
      encrypt: { secret: 'an encryption passphrase of 32+ bytes!!' },
      clock: clock.now,
    });
    const c = new JwtSessionStore({
      secret,
      encrypt: { secret: 'another encryption passphrase of 32+ bytes' },
      clock: clock.now,
    });
    const token = await a.create(record(clock));
    expect(await b.get(token)).not.toBeNull();
    expect(await c.get(token)).toBeNull();
  });
});

describe('key rotation and JWKS', () => {
  it('signs with the first key (its kid in the header) and verifies with every key', async () => {
    const clock = new TestClock();
    const old = new JwtSessionStore({ keys: [{ kid: 'k1', secret: 'k1'.repeat(16) }], clock: clock.now });
    const rotated = new JwtSessionStore({
      keys: [
        { kid: 'k2', secret: 'k2'.repeat(16) },
        { kid: 'k1', secret: 'k1'.repeat(16) },
      ],
      clock: clock.now,
    });
    const retired = new JwtSessionStore({ keys: [{ kid: 'k2', secret: 'k2'.repeat(16) }], clock: clock.now });
    const oldToken = await old.create(record(clock));
    const newToken = await rotated.create(record(clock));
    expect(parts(oldToken).header.kid).toBe('k1');
    expect(parts(newToken).header.kid).toBe('k2');
    expect(await rotated.get(oldToken)).not.toBeNull();
    expect(await rotated.get(newToken)).not.toBeNull();
    expect(await retired.get(newToken)).not.toBeNull();
    expect(await retired.get(oldToken)).toBeNull();
    expect(await old.get(newToken)).toBeNull();
  });

  it('rotation without kids: every secret is tried', async () => {
    const clock = new TestClock();
    const a = 'secret-a'.repeat(4);
    const b = 'secret-b'.repeat(4);
    const old = new JwtSessionStore({ secret: a, clock: clock.now });
    const rotated = new JwtSessionStore({ keys: [{ secret: b }, { secret: a }], clock: clock.now });
    expect(await rotated.get(await old.create(record(clock)))).not.toBeNull();
    expect(await rotated.get(await rotated.create(record(clock)))).not.toBeNull();
    expect(await old.get(await rotated.create(record(clock)))).toBeNull();
  });

  it('rotating from HS256 to ES256 keeps old HS256 tokens valid but never mixes algorithms', async () => {
    const clock = new TestClock();
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const old = new JwtSessionStore({ keys: [{ kid: 'h', secret }], clock: clock.now });
    const rotated = new JwtSessionStore({
      keys: [
        { kid: 'e', privateKey: ec.privateKey },
        { kid: 'h', secret },
      ],
      clock: clock.now,
    });
    const hs = await old.create(record(clock));
    expect(await rotated.get(hs)).not.toBeNull();
    const es = await rotated.create(record(clock));
    expect(parts(es).header).toEqual({ alg: 'ES256', typ: 'JWT', kid: 'e' });
    expect(await rotated.get(es)).not.toBeNull();
  });

  it('verifies tokens whose kid is in a caller-provided JWKS, and only those', async () => {
    const clock = new TestClock();
    const issuerPair = generateKeyPairSync('ed25519');
    const issuer = new JwtSessionStore({
      keys: [{ kid: 'auth-2025', privateKey: issuerPair.privateKey }],
      clock: clock.now,
    });
    const jwks = {
      keys: [{ ...issuerPair.publicKey.export({ format: 'jwk' }), kid: 'auth-2025', alg: 'EdDSA', use: 'sig' }],
    };
    const verifier = new JwtSessionStore({ secret, jwks, clock: clock.now });
    const token = await issuer.create(record(clock));
    expect((await verifier.get(token))?.userId).toBe(parts(token).payload.sub);
    expect(await verifier.get(token)).not.toBeNull(); // cached key path
    // a kid the JWKS does not hold, and the right kid with a foreign key
    const stranger = generateKeyPairSync('ed25519');
    const other = new JwtSessionStore({
      keys: [{ kid: 'auth-2024', privateKey: stranger.privateKey }],
      clock: clock.now,
    });
    expect(await verifier.get(await other.create(record(clock)))).toBeNull();
    const impostor = new JwtSessionStore({
      keys: [{ kid: 'auth-2025', privateKey: stranger.privateKey }],
      clock: clock.now,
    });
    expect(await verifier.get(await impostor.create(record(clock)))).toBeNull();
    // without the JWKS the issuer's token is foreign
    expect(await new JwtSessionStore({ secret, clock: clock.now }).get(token)).toBeNull();
  });

  it('JWKS: an ES256 kid whose JWK is really an Ed25519 key is never used (no cross-algorithm key use)', async () => {
    const clock = new TestClock();
    const ed = generateKeyPairSync('ed25519');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwks = { keys: [{ ...ed.publicKey.export({ format: 'jwk' }), kid: 'k' }] };
    const verifier = new JwtSessionStore({ secret, jwks, clock: clock.now });
    const es = new JwtSessionStore({ keys: [{ kid: 'k', privateKey: ec.privateKey }], clock: clock.now });
    expect(await verifier.get(await es.create(record(clock)))).toBeNull();
  });
});

describe('options', () => {
  const invalid = (options: unknown, field: string) => {
    let error: unknown;
    try {
      new JwtSessionStore(options as JwtSessionStoreOptions);
    } catch (e) {
      error = e;
    }
    expect(SessionError.hasCode(error, 'INVALID'), `expected INVALID for ${field}`).toBe(true);
    expect((error as SessionError).message).toContain(field);
    expect((error as SessionError).message).toMatch(/^\[sessionkit\/jwt\] constructor:/);
  };
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

  it('rejects secrets shorter than 32 bytes (counting UTF-8 bytes) and non-secrets', () => {
    invalid({ secret: 'x'.repeat(31) }, 'secret');
    invalid({ secret: new Uint8Array(31) }, 'secret');
    invalid({ secret: 42 }, 'secret');
    invalid({ secret: '' }, 'secret');
    expect(() => new JwtSessionStore({ secret: 'é'.repeat(16) })).not.toThrow(); // 32 bytes, 16 characters
    expect(() => new JwtSessionStore({ secret: new Uint8Array(32) })).not.toThrow();
  });

  it('a bad secret option is named secret (not secret.secret), whatever is wrong with it', () => {
    for (const bad of ['short', new Uint8Array(31), 42, null]) {
      let error: unknown;
      try {
        new JwtSessionStore({ secret: bad as never });
      } catch (e) {
        error = e;
      }
      expect(SessionError.hasCode(error, 'INVALID')).toBe(true);
      expect((error as SessionError).field).toBe('secret');
      expect((error as SessionError).message).toMatch(/^\[sessionkit\/jwt\] constructor: option secret must be /);
    }
    // inside keys the entry's path is the name
    let error: unknown;
    try {
      new JwtSessionStore({ keys: [{ secret: 'short' }] });
    } catch (e) {
      error = e;
    }
    expect((error as SessionError).field).toBe('keys[0].secret');
  });

  it('rejects missing, conflicting and malformed key options, naming them', () => {
    invalid(undefined, 'options');
    invalid({}, 'secret');
    invalid({ secret, keys: [{ secret }] }, 'secret');
    invalid({ keys: [] }, 'keys');
    invalid({ keys: 'k' }, 'keys');
    invalid({ keys: [{ publicKey: ec.publicKey }] }, 'keys[0].privateKey');
    invalid({ keys: [{ secret }, { secret: 'short' }] }, 'keys[1].secret');
    invalid({ keys: [{ privateKey: rsa.privateKey }] }, 'keys[0]');
    invalid({ keys: [{ privateKey: ec.privateKey, alg: 'EdDSA' }] }, 'keys[0].alg');
    invalid({ keys: [{ secret, alg: 'ES256' }] }, 'keys[0].alg');
    invalid({ keys: [{ privateKey: 'not a pem' }] }, 'keys[0].privateKey');
    invalid({ keys: [{ privateKey: ec.publicKey }] }, 'keys[0].privateKey');
    invalid(
      {
        keys: [{ privateKey: ec.privateKey, publicKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey }],
      },
      'keys[0].publicKey',
    );
    invalid(
      {
        keys: [
          { kid: 'a', secret },
          { kid: 'a', secret },
        ],
      },
      'keys[1].kid',
    );
    invalid({ keys: [{ kid: '', secret }] }, 'keys[0].kid');
    invalid({ keys: [{ secret, privateKey: ec.privateKey }] }, 'keys[0]');
    invalid({ keys: [{ privateKey: generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey }] }, 'keys[0]');
    invalid(
      { keys: [{ privateKey: { kty: 'EC', crv: 'P-256', x: 'bad', y: 'bad', d: 'bad' } }] },
      'keys[0].privateKey',
    );
  });

  it('rejects bad algorithm, issuer, audience, encrypt, jwks, revocations and limits', () => {
    invalid({ secret, algorithm: 'none' }, 'algorithm');
    invalid({ secret, algorithm: 'ES256' }, 'algorithm');
    invalid({ secret, issuer: '' }, 'issuer');
    invalid({ secret, audience: [] }, 'audience');
    invalid({ secret, audience: [1] }, 'audience');
    invalid({ secret, encrypt: { secret: 'short' } }, 'encrypt.secret');
    invalid({ secret, encrypt: 'yes' }, 'encrypt');
    invalid({ secret, encrypt: { secret, kid: 5 } }, 'encrypt.kid');
    invalid({ secret, jwks: { keys: 'x' } }, 'jwks');
    invalid({ secret, revocations: {} }, 'revocations');
    invalid({ secret, maxTokenBytes: 0 }, 'maxTokenBytes');
    invalid({ secret, maxTokenBytes: 1.5 }, 'maxTokenBytes');
    invalid({ secret, clockToleranceMs: -1 }, 'clockToleranceMs');
    invalid({ secret, operationTimeoutMs: 0 }, 'operationTimeoutMs');
    // the one bound of every timer option: setTimeout's largest delay
    invalid({ secret, operationTimeoutMs: 2 ** 31 }, 'operationTimeoutMs');
    expect(() => new JwtSessionStore({ secret, operationTimeoutMs: 2 ** 31 - 1 })).not.toThrow();
    invalid({ secret, clock: 'now' }, 'clock');
    invalid({ secret, maxRecordBytes: 10 }, 'maxRecordBytes');
  });

  it('HS384 and HS512 work through algorithm', async () => {
    const clock = new TestClock();
    for (const algorithm of ['HS384', 'HS512'] as const) {
      const store = new JwtSessionStore({ secret, algorithm, clock: clock.now });
      const token = await store.create(record(clock));
      expect(parts(token).header.alg).toBe(algorithm);
      expect(await store.get(token)).not.toBeNull();
      expect(await new JwtSessionStore({ secret, clock: clock.now }).get(token)).toBeNull();
    }
  });

  it('clockToleranceMs keeps a token valid that long past expiresAt', async () => {
    const clock = new TestClock();
    const store = new JwtSessionStore({ secret, clockToleranceMs: 5000, clock: clock.now });
    const token = await store.create(record(clock, { expiresAt: new Date(clock.now() + 1000) }));
    clock.advance(1000 + 4999);
    expect(await store.get(token)).not.toBeNull();
    clock.advance(1);
    await expect(store.get(token)).rejects.toSatisfy(isCode('EXPIRED'));
  });
});

describe('maxTokenBytes', () => {
  it('a record whose token would be one byte too long is INVALID, naming maxTokenBytes; exactly at the limit is fine', async () => {
    for (const extra of [{}, { encrypt: { secret: randomBytes(32) } }]) {
      const clock = new TestClock();
      const input = record(clock, { metadata: { blob: 'x'.repeat(1500) } });
      const probe = await new JwtSessionStore({ secret, clock: clock.now, ...extra, maxTokenBytes: 100_000 }).create(
        input,
      );
      const exact = new JwtSessionStore({ secret, clock: clock.now, ...extra, maxTokenBytes: probe.length });
      expect((await exact.create(input)).length).toBe(probe.length);
      const under = new JwtSessionStore({ secret, clock: clock.now, ...extra, maxTokenBytes: probe.length - 1 });
      await expect(under.create(input)).rejects.toSatisfy(
        (e) => SessionError.hasCode(e, 'INVALID') && (e as SessionError).message.includes('maxTokenBytes'),
      );
    }
  });

  it('the default is 4096: about 2.5 KB of metadata fits in a signed token, not 3 KB', async () => {
    const clock = new TestClock();
    const store = new JwtSessionStore({ secret, clock: clock.now });
    expect((await store.create(record(clock, { metadata: 'y'.repeat(2500) }))).length).toBeLessThanOrEqual(4096);
    await expect(store.create(record(clock, { metadata: 'y'.repeat(3000) }))).rejects.toSatisfy(isCode('INVALID'));
  });
});

describe('stateless methods', () => {
  it('update, extend and touch reject UNSUPPORTED, telling the caller to create a new token', async () => {
    const clock = new TestClock();
    const store = new JwtSessionStore({ secret, clock: clock.now, revocations: new MemoryRevocationStore() });
    const input = record(clock);
    const id = await store.create(input);
    for (const run of [() => store.update({ ...input, id }), () => store.extend(id, 1000), () => store.touch(id)]) {
      const error = await run().catch((e: unknown) => e);
      expect(SessionError.hasCode(error, 'UNSUPPORTED')).toBe(true);
      expect((error as Error).message).toMatch(/issue a new token with create/);
    }
    await expect(store.listByUser(input.userId, input.tenantId)).rejects.toSatisfy(isCode('UNSUPPORTED'));
  });

  it('without revocations delete and deleteByUser reject UNSUPPORTED naming the option, and cleanupExpired resolves 0', async () => {
    const store = new JwtSessionStore({ secret });
    const token = await store.create(record(new TestClock()));
    for (const run of [() => store.delete(token), () => store.deleteByUser('u', tenantId('t'))]) {
      const error = await run().catch((e: unknown) => e);
      expect(SessionError.hasCode(error, 'UNSUPPORTED')).toBe(true);
      expect((error as Error).message).toContain('revocations');
    }
    expect(await store.cleanupExpired()).toBe(0);
    expect(await store.get(token)).not.toBeNull();
  });
});

describe('what the caller passes in cannot escape as a plain error', () => {
  const boom = new Error('boom');

  it('a clock that throws makes every operation reject STORAGE with the error as cause', async () => {
    const clock = new TestClock();
    let broken = false;
    const store = new JwtSessionStore({
      secret,
      revocations: new MemoryRevocationStore(),
      clock: () => {
        if (broken) throw boom;
        return clock.now();
      },
    });
    const input = record(clock);
    const token = await store.create(input);
    expect(await store.get(token)).not.toBeNull(); // now in the verify cache too
    broken = true;
    const errors = await expectStorageErrors(
      [
        () => store.create(record(clock)),
        () => store.get(token),
        () => store.delete(token),
        () => store.deleteByUser(input.userId, input.tenantId),
        () => store.cleanupExpired(),
      ],
      boom,
    );
    for (const error of errors) expect(error.message).toContain('clock() threw: boom');
    broken = false;
    expect(await store.get(token)).not.toBeNull(); // nothing was revoked meanwhile
  });

  it('a record whose getter (or proxy) throws is INVALID naming record, with the error as cause', async () => {
    const clock = new TestClock();
    const store = new JwtSessionStore({ secret, clock: clock.now });
    const topLevel = Object.defineProperty(record(clock), 'metadata', {
      enumerable: true,
      get() {
        throw boom;
      },
    });
    const nested = record(clock, {
      metadata: Object.defineProperty({}, 'deep', {
        enumerable: true,
        get() {
          throw boom;
        },
      }),
    });
    const proxy = new Proxy(record(clock), {
      get(target, key) {
        if (key === 'factorsUsed') throw boom;
        return Reflect.get(target, key);
      },
    });
    for (const input of [topLevel, nested, proxy]) {
      const error = await store.create(input).catch((e: unknown) => e);
      expect(SessionError.hasCode(error, 'INVALID')).toBe(true);
      expect((error as SessionError).field).toBe('record');
      expect((error as SessionError).cause).toBe(boom);
    }
  });

  it('a metadata getter read twice signs the value that was checked, never a second one', async () => {
    const clock = new TestClock();
    const store = new JwtSessionStore({ secret, clock: clock.now });
    let reads = 0;
    const metadata = Object.defineProperty({}, 'n', {
      enumerable: true,
      get() {
        reads++;
        return reads === 1 ? 1 : 10n; // a BigInt the second time: JSON.stringify would throw
      },
    });
    const token = await store.create(record(clock, { metadata }));
    expect((await store.get(token))?.metadata).toEqual({ n: 1 });
  });

  it('a RevocationStore method that throws synchronously rejects STORAGE with the cause', async () => {
    const clock = new TestClock();
    const thrower: RevocationStore = {
      revokeToken: () => {
        throw boom;
      },
      revokeUser: () => {
        throw boom;
      },
      isRevoked: () => {
        throw boom;
      },
      cleanupExpired: () => {
        throw boom;
      },
    };
    const store = new JwtSessionStore({ secret, revocations: thrower, clock: clock.now });
    const input = record(clock);
    const token = await store.create(input);
    await expectStorageErrors(
      [
        () => store.get(token),
        () => store.delete(token),
        () => store.deleteByUser(input.userId, input.tenantId),
        () => store.cleanupExpired(),
      ],
      boom,
    );
  });
});

describe('revocation', () => {
  it('delete denies that token only, until cleanupExpired drops it after it expires', async () => {
    const clock = new TestClock();
    const revocations = new MemoryRevocationStore();
    const store = new JwtSessionStore({ secret, clock: clock.now, revocations });
    const input = record(clock, { expiresAt: new Date(clock.now() + 1000) });
    const a = await store.create(input);
    const b = await store.create(input);
    await store.delete(a);
    await store.delete(a);
    expect(revocations.size).toBe(1);
    expect(await store.get(a)).toBeNull();
    expect(await store.get(b)).not.toBeNull();
    expect(await store.cleanupExpired()).toBe(0); // not expired yet: kept
    clock.advance(999);
    expect(await store.cleanupExpired()).toBe(0);
    expect(await store.get(a)).toBeNull();
    clock.advance(1);
    expect(await store.get(a)).toBeNull(); // revoked wins over expired while the entry is held
    expect(await store.cleanupExpired()).toBe(1);
    expect(revocations.size).toBe(0);
    // once dropped, the token reads as what it is: a valid signature past its expiry
    await expect(store.get(a)).rejects.toSatisfy(isCode('EXPIRED'));
  });

  it('delete of a forged, foreign or malformed token resolves and stores nothing', async () => {
    const clock = new TestClock();
    const revocations = new MemoryRevocationStore();
    const store = new JwtSessionStore({ secret, clock: clock.now, revocations });
    const foreign = await new JwtSessionStore({ secret: randomBytes(32), clock: clock.now }).create(record(clock));
    for (const id of [foreign, 'x', '', 'a.b.c', `${foreign}x`]) await store.delete(id);
    expect(revocations.size).toBe(0);
  });

  it('deleteByUser revokes tokens signed at or before now, by (tenant, user), across store instances', async () => {
    const clock = new TestClock();
    const revocations = new MemoryRevocationStore();
    const one = new JwtSessionStore({ secret, clock: clock.now, revocations });
    const two = new JwtSessionStore({ secret, clock: clock.now, revocations });
    const input = record(clock);
    const early = await one.create(input);
    clock.advance(5);
    const sameMs = await two.create(input);
    const otherTenant = await one.create({ ...input, tenantId: tenantId(`${input.tenantId}x`) });
    const swapped = await one.create({ ...input, userId: input.tenantId, tenantId: tenantId(input.userId) });
    expect(await one.deleteByUser(input.userId, input.tenantId)).toBe(0);
    for (const s of [one, two]) {
      expect(await s.get(early)).toBeNull();
      expect(await s.get(sameMs)).toBeNull(); // signed in the same ms as the revocation: revoked
      expect(await s.get(otherTenant)).not.toBeNull();
      expect(await s.get(swapped)).not.toBeNull();
    }
    clock.advance(1);
    const later = await two.create(input);
    expect(await one.get(later)).not.toBeNull();
    // a second deleteByUser at a later time also revokes the later token
    clock.advance(1);
    await two.deleteByUser(input.userId, input.tenantId);
    expect(await one.get(later)).toBeNull();
  });

  it('user entries expire maxLifetimeMs after the revocation (no token signed before can still be valid)', async () => {
    const clock = new TestClock();
    const revocations = new MemoryRevocationStore();
    const store = new JwtSessionStore({ secret, clock: clock.now, revocations, maxLifetimeMs: HOUR });
    await store.deleteByUser('u', tenantId('t'));
    expect(revocations.userCount).toBe(1);
    clock.advance(HOUR - 1);
    await store.cleanupExpired();
    expect(revocations.userCount).toBe(1);
    clock.advance(1);
    expect(await store.cleanupExpired()).toBe(0); // counts token entries only
    expect(revocations.userCount).toBe(0);
  });

  it('deleteByUser revokes a token signed 1 s before it by a store whose clock runs 3 s ahead (clockToleranceMs 3000)', async () => {
    const clock = new TestClock();
    const revocations = new MemoryRevocationStore();
    const tolerance = 3000;
    const ahead = new JwtSessionStore({
      secret,
      revocations,
      clockToleranceMs: tolerance,
      clock: () => clock.now() + 3000,
    });
    const store = new JwtSessionStore({ secret, revocations, clockToleranceMs: tolerance, clock: clock.now });
    const input = record(clock);
    const owner = { userId: input.userId, tenantId: input.tenantId };
    const early = await ahead.create(input); // its clock says 3 s later than it is
    expect(await store.get(early)).not.toBeNull();
    clock.advance(1000);
    const revokedAt = clock.now();
    expect(await store.deleteByUser(input.userId, input.tenantId)).toBe(0);
    expect(await store.get(early)).toBeNull();
    expect(await ahead.get(early)).toBeNull();
    // "signed at or before the revocation time plus the tolerance": a token this store
    // signs within the tolerance after it is denied too; one signed after that is not
    clock.set(revokedAt + tolerance);
    expect(await store.get(await store.create(record(clock, owner)))).toBeNull();
    clock.set(revokedAt + tolerance + 1);
    expect(await store.get(await store.create(record(clock, owner)))).not.toBeNull();
  });

  it('a user revocation outlives every token it denies, whoever signed it (maxLifetimeMs, clock tolerance)', async () => {
    const clock = new TestClock();
    const revocations = new MemoryRevocationStore();
    const T = 2000;
    const options = { secret, revocations, clockToleranceMs: T, maxLifetimeMs: HOUR };
    const store = new JwtSessionStore({ ...options, clock: clock.now });
    const input = record(clock);
    const owner = { userId: input.userId, tenantId: input.tenantId };
    const R = clock.now() + 10;
    const tokens: string[] = [];
    // another instance without maxLifetimeMs: a session ten years long
    const unbounded = new JwtSessionStore({ secret, revocations, clockToleranceMs: T, clock: clock.now });
    tokens.push(
      await unbounded.create(record(clock, { ...owner, expiresAt: new Date(clock.now() + 10 * 8760 * HOUR) })),
    );
    // a store whose clock runs T ahead, signing in the revocation's millisecond: the last
    // token the revocation denies, with the longest life maxLifetimeMs allows
    clock.set(R);
    const ahead = new JwtSessionStore({ ...options, clock: () => clock.now() + T });
    tokens.push(
      await ahead.create(record(clock, { ...owner, createdAt: new Date(R + T), expiresAt: new Date(R + T + HOUR) })),
    );
    expect(new Date(parts(tokens[1] as string).payload.eat as number).getTime()).toBe(R + T + HOUR);
    for (const token of tokens) expect(await store.get(token)).not.toBeNull();

    await store.deleteByUser(input.userId, input.tenantId);
    const keepUntil = R + T + HOUR + T; // the last denied token is accepted until then
    for (const at of [R, R + HOUR, keepUntil - 1]) {
      clock.set(at);
      await store.cleanupExpired();
      expect(revocations.userCount).toBe(1);
      for (const token of tokens) {
        expect(await store.get(token).catch((e: unknown) => SessionError.hasCode(e, 'EXPIRED'))).toBeNull();
      }
    }
    clock.set(keepUntil);
    await store.cleanupExpired();
    expect(revocations.userCount).toBe(0); // dropped, and none of them is valid any more
    for (const token of tokens) await expect(store.get(token)).rejects.toSatisfy(isCode('EXPIRED'));
  });

  it('a token whose createdAt is later than its signing time is never valid (no store issues one)', async () => {
    const clock = new TestClock();
    const store = new JwtSessionStore({
      secret,
      clock: clock.now,
      maxLifetimeMs: HOUR,
      revocations: new MemoryRevocationStore(),
    });
    const now = clock.now();
    const claims = (cat: number, eat: number) => ({
      sub: 'u',
      tid: 't',
      jti: 'j'.repeat(43),
      exp: Math.ceil(eat / 1000),
      sat: now,
      cat,
      eat,
      lat: now,
      txn: '',
      amr: [],
      aal: 1,
      md: {},
    });
    const h = { alg: 'HS256', typ: 'JWT' };
    expect(await store.get(hmacToken(h, claims(now, now + HOUR), secret))).not.toBeNull(); // the control
    const tenYears = 10 * 8760 * HOUR;
    expect(await store.get(hmacToken(h, claims(now + 1, now + HOUR), secret))).toBeNull();
    expect(await store.get(hmacToken(h, claims(now + tenYears, now + tenYears + HOUR), secret))).toBeNull();
    // and create refuses such a record before signing anything
    const error = await store.create(record(clock, { createdAt: new Date(now + 1) })).catch((e: unknown) => e);
    expect(SessionError.hasCode(error, 'INVALID')).toBe(true);
    expect((error as SessionError).field).toBe('record.createdAt');
  });

  it('with maxLifetimeMs, a longer token from another signer ends at createdAt + maxLifetimeMs', async () => {
    const clock = new TestClock();
    const store = new JwtSessionStore({ secret, clock: clock.now, maxLifetimeMs: HOUR });
    const unbounded = new JwtSessionStore({ secret, clock: clock.now });
    const input = record(clock, { expiresAt: new Date(clock.now() + 48 * HOUR) });
    const token = await unbounded.create(input);
    expect((await unbounded.get(token))?.expiresAt).toEqual(input.expiresAt);
    expect((await store.get(token))?.expiresAt).toEqual(new Date(input.createdAt.getTime() + HOUR));
    clock.advance(HOUR - 1);
    expect(await store.get(token)).not.toBeNull();
    clock.advance(1);
    await expect(store.get(token)).rejects.toSatisfy(isCode('EXPIRED'));
    expect(await unbounded.get(token)).not.toBeNull();
  });

  it('MemoryRevocationStore stays bounded: long-expired entries are swept as new ones arrive', async () => {
    const revocations = new MemoryRevocationStore();
    const t0 = Date.now();
    for (let i = 0; i < 5000; i++) await revocations.revokeToken(`old-${i}`, t0 + i, t0);
    expect(revocations.size).toBe(5000);
    const later = t0 + 10 * HOUR;
    for (let i = 0; i < 5000; i++) await revocations.revokeToken(`new-${i}`, later + HOUR, later);
    expect(revocations.size).toBeLessThanOrEqual(5000 + 4096);
    expect(
      await revocations.isRevoked({ jti: 'new-1', tenantId: 't', userId: 'u', signedAt: 0, expiresAt: 0 }, later),
    ).toBe(true);
    expect(await revocations.cleanupExpired(later + 2 * HOUR)).toBe(5000);
    expect(revocations.size).toBe(0);
  });

  it('MemoryRevocationStore keeps (tenant, user) pairs apart whatever they hold', async () => {
    const revocations = new MemoryRevocationStore();
    await revocations.revokeUser('a:b', 'c', 100, undefined);
    const check = (tenantId: string, userId: string) =>
      revocations.isRevoked({ jti: 'j', tenantId, userId, signedAt: 50, expiresAt: 200 }, 60);
    expect(await check('a:b', 'c')).toBe(true);
    expect(await check('a', 'b:c')).toBe(false);
    expect(await check('a:', 'bc')).toBe(false);
    expect(await check('3:a:b', 'c')).toBe(false);
  });

  describe('a failing or hung RevocationStore', () => {
    function faulty(mode: { fail: boolean; hang: boolean }): RevocationStore {
      const inner = new MemoryRevocationStore();
      const wrap =
        <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
        (...args: A): Promise<R> =>
          mode.hang ? new Promise<R>(() => {}) : mode.fail ? Promise.reject(new Error('ECONNREFUSED')) : fn(...args);
      return {
        revokeToken: wrap(inner.revokeToken.bind(inner)),
        revokeUser: wrap(inner.revokeUser.bind(inner)),
        isRevoked: wrap(inner.isRevoked.bind(inner)),
        cleanupExpired: wrap(inner.cleanupExpired.bind(inner)),
      };
    }

    it('rejects STORAGE with the cause, within operationTimeoutMs, and works again afterwards', async () => {
      const clock = new TestClock();
      const mode = { fail: false, hang: false };
      const store = new JwtSessionStore({
        secret,
        clock: clock.now,
        revocations: faulty(mode),
        operationTimeoutMs: 200,
      });
      const token = await store.create(record(clock));
      expect(await store.get(token)).not.toBeNull();

      mode.fail = true;
      for (const run of [
        () => store.get(token),
        () => store.delete(token),
        () => store.deleteByUser('u', tenantId('t')),
        () => store.cleanupExpired(),
      ]) {
        const error = await run().catch((e: unknown) => e);
        expect(SessionError.hasCode(error, 'STORAGE')).toBe(true);
        expect(((error as SessionError).cause as Error).message).toBe('ECONNREFUSED');
      }

      mode.fail = false;
      mode.hang = true;
      const started = performance.now();
      const error = await store.get(token).catch((e: unknown) => e);
      expect(SessionError.hasCode(error, 'STORAGE')).toBe(true);
      expect((error as Error).message).toContain('operationTimeoutMs');
      expect(performance.now() - started).toBeLessThan(5000);

      mode.hang = false;
      await store.delete(token);
      expect(await store.get(token)).toBeNull();
    });

    it('a revocation store resolving nonsense from cleanupExpired is STORAGE, not a bogus count', async () => {
      const bad: RevocationStore = {
        ...new MemoryRevocationStore(),
        revokeToken: async () => {},
        revokeUser: async () => {},
        isRevoked: async () => false,
        cleanupExpired: async () => -1,
      };
      const store = new JwtSessionStore({ secret, revocations: bad });
      await expect(store.cleanupExpired()).rejects.toSatisfy(isCode('STORAGE'));
    });
  });
});

describe('concurrency', () => {
  it('64 concurrent creates and gets per algorithm all return their own record', async () => {
    const clock = new TestClock();
    const stores = [
      new JwtSessionStore({ secret, clock: clock.now }),
      new JwtSessionStore({
        keys: [{ privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey }],
        clock: clock.now,
      }),
      new JwtSessionStore({ keys: [{ privateKey: generateKeyPairSync('ed25519').privateKey }], clock: clock.now }),
    ];
    for (const store of stores) {
      const inputs = Array.from({ length: 64 }, () => record(clock));
      const tokens = await Promise.all(inputs.map((r) => store.create(r)));
      const forged = tokens.map((t) => `${t.slice(0, -2)}${t.endsWith('AA') ? 'BA' : 'AA'}`);
      const [good, bad] = await Promise.all([
        Promise.all(tokens.map((t) => store.get(t))),
        Promise.all(forged.map((t) => store.get(t))),
      ]);
      good.forEach((got, i) => expectSame(got, inputs[i] as SessionRecord, tokens[i] as string));
      expect(bad.every((b) => b === null)).toBe(true);
    }
  });
});

describe('verify cache', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** Counts the signature checks (jose runs every one through WebCrypto). */
  function countVerifies() {
    return vi.spyOn(globalThis.crypto.subtle, 'verify');
  }

  it('a token read again skips the signature check; each get returns its own copy', async () => {
    const clock = new TestClock();
    const store = new JwtSessionStore({ secret, clock: clock.now });
    const input = record(clock);
    const token = await store.create(input);
    const verifies = countVerifies();
    const first = await store.get(token);
    expect(verifies).toHaveBeenCalledTimes(1);
    (first as SessionRecord).metadata = { changed: true };
    (first as SessionRecord).factorsUsed.push('mutated');
    (first as SessionRecord).expiresAt.setTime(0);
    const second = await store.get(token);
    expect(verifies).toHaveBeenCalledTimes(1);
    expectSame(second, input, token);
    expect(second).not.toBe(first);
  });

  it('only verified tokens are kept, and the least recently used goes first', async () => {
    const clock = new TestClock();
    const store = new JwtSessionStore({ secret, clock: clock.now, verifyCacheSize: 2 });
    const [a, b, c] = [
      await store.create(record(clock)),
      await store.create(record(clock)),
      await store.create(record(clock)),
    ];
    const forged = `${a.slice(0, -2)}${a.endsWith('AA') ? 'BA' : 'AA'}`;
    const verifies = countVerifies();
    for (const t of [a, b, a]) await store.get(t); // a, b verified; a again from the cache
    expect(verifies).toHaveBeenCalledTimes(2);
    await store.get(c); // evicts b (least recently used), keeps a
    await store.get(a);
    expect(verifies).toHaveBeenCalledTimes(3);
    await store.get(b);
    expect(verifies).toHaveBeenCalledTimes(4);
    expect(await store.get(forged)).toBeNull();
    expect(await store.get(forged)).toBeNull(); // a failed check is never remembered
    expect(verifies).toHaveBeenCalledTimes(6);
  });

  it('tokens longer than maxTokenBytes are verified every time, never kept', async () => {
    const clock = new TestClock();
    const issuer = new JwtSessionStore({ secret, clock: clock.now, maxTokenBytes: 16_384 });
    const big = await issuer.create(record(clock, { metadata: { blob: 'x'.repeat(5000) } }));
    expect(big.length).toBeGreaterThan(4096);
    const store = new JwtSessionStore({ secret, clock: clock.now }); // maxTokenBytes 4096
    const verifies = countVerifies();
    expect((await store.get(big))?.metadata).toEqual({ blob: 'x'.repeat(5000) });
    expect((await store.get(big))?.metadata).toEqual({ blob: 'x'.repeat(5000) });
    expect(verifies).toHaveBeenCalledTimes(2);
  });

  it('expiry and revocation are decided on every get, cached or not', async () => {
    const clock = new TestClock();
    const store = new JwtSessionStore({ secret, clock: clock.now, revocations: new MemoryRevocationStore() });
    const input = record(clock, { expiresAt: new Date(clock.now() + 1000) });
    const [t1, t2, t3] = [await store.create(input), await store.create(input), await store.create(input)];
    for (const t of [t1, t2, t3]) expect(await store.get(t)).not.toBeNull();
    await store.delete(t1);
    expect(await store.get(t1)).toBeNull();
    clock.advance(1);
    await store.deleteByUser(input.userId, input.tenantId);
    expect(await store.get(t2)).toBeNull();
    const other = new JwtSessionStore({ secret, clock: clock.now });
    const t4 = await other.create(record(clock, { expiresAt: new Date(clock.now() + 1000) }));
    expect(await other.get(t4)).not.toBeNull();
    clock.advance(1000);
    await expect(other.get(t4)).rejects.toSatisfy(isCode('EXPIRED'));
    await expect(other.get(t4)).rejects.toSatisfy(isCode('EXPIRED'));
  });

  it('verifyCacheSize 0 checks every token every time; the option is validated', async () => {
    const clock = new TestClock();
    const store = new JwtSessionStore({ secret, clock: clock.now, verifyCacheSize: 0 });
    const token = await store.create(record(clock));
    const verifies = countVerifies();
    await store.get(token);
    await store.get(token);
    expect(verifies).toHaveBeenCalledTimes(2);
    for (const bad of [-1, 1.5, '10', 2_000_000]) {
      expect(() => new JwtSessionStore({ secret, verifyCacheSize: bad as never })).toThrow(/verifyCacheSize/);
    }
  });

  it('encrypted tokens are cached too: a read again skips decryption', async () => {
    const clock = new TestClock();
    const store = new JwtSessionStore({ secret, encrypt: { secret: randomBytes(32) }, clock: clock.now });
    const input = record(clock);
    const token = await store.create(input);
    const decrypts = vi.spyOn(globalThis.crypto.subtle, 'decrypt');
    expectSame(await store.get(token), input, token);
    expectSame(await store.get(token), input, token);
    expect(decrypts).toHaveBeenCalledTimes(1);
  });
});
