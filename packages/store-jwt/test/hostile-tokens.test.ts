// Hand-crafted hostile tokens (base64url + node:crypto, no JWT library): every one of
// them must read as null, never as a session, and never escape as anything but null.
import { createCipheriv, createHmac, createPublicKey, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { SessionError } from '@sessionkit/core';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { JwtSessionStore } from '../src/index.js';
import {
  asymmetricToken,
  b64,
  ecdsaS,
  ecdsaTwin,
  HOUR,
  hmacToken,
  P256_N,
  parts,
  record,
  TestClock,
} from './helpers.js';

const secret = randomBytes(32);
const clock = new TestClock();

function payloadFor(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = clock.now();
  const eat = now + HOUR;
  return {
    sub: 'victim',
    tid: 'acme',
    jti: 'j'.repeat(43),
    iat: Math.floor(now / 1000),
    exp: Math.ceil(eat / 1000),
    sat: now,
    cat: now,
    eat,
    lat: now,
    txn: '',
    amr: ['password'],
    aal: 3,
    md: { admin: true },
    ...overrides,
  };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('hostile tokens against an HS256 store', () => {
  const store = new JwtSessionStore({ secret, clock: clock.now });

  it('accepts the hand-made control token (so the rejections below are meaningful)', async () => {
    const good = hmacToken({ alg: 'HS256', typ: 'JWT' }, payloadFor(), secret);
    const got = await store.get(good);
    expect(got?.userId).toBe('victim');
    expect(got?.metadata).toEqual({ admin: true });
  });

  it("rejects alg 'none' in every spelling, with or without a signature", async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const unsigned = `${b64({ alg, typ: 'JWT' })}.${b64(payloadFor())}.`;
      expect(await store.get(unsigned)).toBeNull();
      expect(await store.get(unsigned.slice(0, -1))).toBeNull();
      // 'none' header, but carrying a valid HS256 signature over it
      expect(await store.get(hmacToken({ alg, typ: 'JWT' }, payloadFor(), secret))).toBeNull();
    }
  });

  it('rejects algorithms that are not configured, even with the right secret', async () => {
    expect(await store.get(hmacToken({ alg: 'HS512' }, payloadFor(), secret, 'sha512'))).toBeNull();
    expect(await store.get(hmacToken({ alg: 'HS384' }, payloadFor(), secret, 'sha384'))).toBeNull();
    expect(await store.get(hmacToken({ alg: 'hs256' }, payloadFor(), secret))).toBeNull();
    expect(await store.get(hmacToken({ alg: 'RS256' }, payloadFor(), secret))).toBeNull();
    expect(await store.get(hmacToken({ typ: 'JWT' }, payloadFor(), secret))).toBeNull(); // no alg at all
    expect(await store.get(hmacToken({ alg: ['HS256'] }, payloadFor(), secret))).toBeNull();
  });

  it('rejects a token signed with another secret', async () => {
    expect(await store.get(hmacToken({ alg: 'HS256', typ: 'JWT' }, payloadFor(), randomBytes(32)))).toBeNull();
    expect(await store.get(hmacToken({ alg: 'HS256', typ: 'JWT' }, payloadFor(), ''))).toBeNull();
  });

  it('rejects tampering with the payload, the header or the signature', async () => {
    const token = await store.create(record(clock));
    const [h, p, s] = token.split('.') as [string, string, string];
    const payload = parts(token).payload;
    const forged = b64({ ...payload, sub: 'admin' });
    expect(await store.get(`${h}.${forged}.${s}`)).toBeNull();
    expect(await store.get(`${b64({ alg: 'HS256', typ: 'JWT', kid: 'x' })}.${p}.${s}`)).toBeNull();
    const flipped = (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    expect(await store.get(`${h}.${p}.${flipped}`)).toBeNull();
    expect(await store.get(`${h}.${p}.`)).toBeNull();
    expect(await store.get(`${h}.${p}.${s}${s}`)).toBeNull();
    expect(await store.get(`${h}.${p}`)).toBeNull();
    expect(await store.get(`${h}.${p}.${s}.`)).toBeNull();
    expect(await store.get(`${h}..${p}.${s}`)).toBeNull();
    expect(await store.get(` ${token}`)).toBeNull();
    expect(await store.get(`${token}=`)).toBeNull();
    expect(await store.get(token)).not.toBeNull();
  });

  it('accepts only the one canonical base64url spelling of the signature', async () => {
    const token = await store.create(record(clock));
    const [h, p, s] = token.split('.') as [string, string, string];
    // 32 bytes -> 43 characters; the last one carries 2 unused bits. Set them.
    const last = s.charAt(42);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const variant = alphabet.charAt(alphabet.indexOf(last) | 1);
    expect(variant).not.toBe(last);
    expect(Buffer.from(s.slice(0, 42) + variant, 'base64url').equals(Buffer.from(s, 'base64url'))).toBe(true);
    expect(await store.get(`${h}.${p}.${s.slice(0, 42)}${variant}`)).toBeNull();
    // standard base64 alphabet (+ /) and padding are other spellings of the same bytes
    const standard = Buffer.from(s, 'base64url').toString('base64');
    if (standard !== s) expect(await store.get(`${h}.${p}.${standard}`)).toBeNull();
  });

  it('rejects headers asking for behaviour the store does not implement (crit, b64, embedded keys)', async () => {
    const p = payloadFor();
    expect(await store.get(hmacToken({ alg: 'HS256', crit: ['exp'], exp: 1 }, p, secret))).toBeNull();
    expect(await store.get(hmacToken({ alg: 'HS256', b64: false, crit: ['b64'] }, p, secret))).toBeNull();
    expect(await store.get(hmacToken({ alg: 'HS256', jku: 'https://evil.example/jwks' }, p, secret))).toBeNull();
    expect(await store.get(hmacToken({ alg: 'HS256', x5u: 'https://evil.example/cert' }, p, secret))).toBeNull();
    expect(await store.get(hmacToken({ alg: 'HS256', x5c: ['MIIB'] }, p, secret))).toBeNull();
    expect(await store.get(hmacToken({ alg: 'HS256', typ: 'at+jwt' }, p, secret))).toBeNull();
    expect(await store.get(hmacToken('not json', p, secret))).toBeNull();
    expect(await store.get(hmacToken([], p, secret))).toBeNull();
  });

  it('rejects a correctly signed token that is not a sessionkit record', async () => {
    const h = { alg: 'HS256', typ: 'JWT' };
    expect(await store.get(hmacToken(h, { sub: 'x', exp: 9999999999 }, secret))).toBeNull();
    expect(await store.get(hmacToken(h, 'plain text', secret))).toBeNull();
    expect(await store.get(hmacToken(h, [1, 2], secret))).toBeNull();
    expect(await store.get(hmacToken(h, payloadFor({ aal: 1.5 }), secret))).toBeNull();
    expect(await store.get(hmacToken(h, payloadFor({ amr: [1] }), secret))).toBeNull();
    expect(await store.get(hmacToken(h, payloadFor({ jti: '' }), secret))).toBeNull();
    const { md: _md, ...noMetadata } = payloadFor();
    expect(await store.get(hmacToken(h, noMetadata, secret))).toBeNull();
  });

  it('rejects a token whose exp (seconds) disagrees with its ms expiry', async () => {
    const h = { alg: 'HS256', typ: 'JWT' };
    const past = clock.now() - 1000;
    // eat in the past but exp far in the future: a JWT library would accept it; we do not
    expect(await store.get(hmacToken(h, payloadFor({ eat: past, exp: 9999999999 }), secret))).toBeNull();
    expect(await store.get(hmacToken(h, payloadFor({ exp: undefined }), secret))).toBeNull();
    expect(await store.get(hmacToken(h, payloadFor({ exp: String(payloadFor().exp) }), secret))).toBeNull();
  });

  it('rejects expired tokens EXPIRED by the millisecond, not by exp seconds', async () => {
    const c = new TestClock();
    const s = new JwtSessionStore({ secret, clock: c.now });
    const token = await s.create(record(c, { expiresAt: new Date(c.now() + 1500) }));
    c.advance(1499);
    expect(await s.get(token)).not.toBeNull();
    c.advance(1);
    await expect(s.get(token)).rejects.toSatisfy((e) => SessionError.hasCode(e, 'EXPIRED'));
    // exp is the ms expiry rounded up to whole seconds (interop), and still says "valid"
    expect(parts(token).payload.exp).toBe(Math.ceil(c.now() / 1000));
  });

  it('null for junk of every shape without running any crypto, even when huge or token-shaped', async () => {
    const good = await store.create(record(clock));
    const [h, , sig] = good.split('.') as [string, string, string];
    const verifies = vi.spyOn(globalThis.crypto.subtle, 'verify');
    for (const junk of [
      // this store's own header and a real signature around a 1 MB payload: refused on
      // its length alone (over 4 x maxTokenBytes), before any HMAC runs over it
      `${h}.${'A'.repeat(1_000_000)}.${sig}`,
      '',
      '.',
      '..',
      '...',
      '....',
      'a.b.c',
      'a.b.c.d.e',
      '😀.😀.😀',
      '\u0000',
      'x'.repeat(1_000_000),
    ]) {
      expect(await store.get(junk)).toBeNull();
    }
    expect(verifies).not.toHaveBeenCalled();
  });

  it('property: changing any one character of a valid token gives null', async () => {
    const token = await store.create(record(clock));
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ';
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: token.length - 1 }), fc.constantFrom(...alphabet), async (at, ch) => {
        fc.pre(token[at] !== ch);
        const mutated = token.slice(0, at) + ch + token.slice(at + 1);
        expect(await store.get(mutated)).toBeNull();
      }),
      { numRuns: 300 },
    );
  });
});

describe('algorithm confusion against asymmetric stores', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ed = generateKeyPairSync('ed25519');

  for (const [alg, pair] of [
    ['ES256', ec],
    ['EdDSA', ed],
  ] as const) {
    it(`${alg}: an HS256 token keyed with the public key (PEM, DER, JWK) is rejected`, async () => {
      const store = new JwtSessionStore({ keys: [{ privateKey: pair.privateKey }], clock: clock.now });
      const real = await store.create(record(clock));
      const { header } = parts(real);
      expect(await store.get(real)).not.toBeNull();
      const pem = pair.publicKey.export({ type: 'spki', format: 'pem' }) as string;
      const der = pair.publicKey.export({ type: 'spki', format: 'der' });
      const jwk = JSON.stringify(pair.publicKey.export({ format: 'jwk' }));
      for (const key of [pem, pem.trim(), der, jwk, Buffer.from(jwk)]) {
        for (const h of [
          { alg: 'HS256', typ: 'JWT' },
          { alg: 'HS256', typ: 'JWT', kid: header.kid },
        ]) {
          expect(await store.get(hmacToken(h, payloadFor(), key as string | Buffer))).toBeNull();
        }
      }
    });

    it(`${alg}: the right algorithm with a foreign key pair is rejected`, async () => {
      const store = new JwtSessionStore({ keys: [{ privateKey: pair.privateKey }], clock: clock.now });
      const kid = parts(await store.create(record(clock))).header.kid;
      const foreign =
        alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
      expect(await store.get(asymmetricToken({ alg, kid }, payloadFor(), foreign.privateKey, alg))).toBeNull();
      expect(await store.get(asymmetricToken({ alg }, payloadFor(), foreign.privateKey, alg))).toBeNull();
      // the control: the same hand-made token signed with the store's own key is accepted
      expect(await store.get(asymmetricToken({ alg, kid }, payloadFor(), pair.privateKey, alg))).not.toBeNull();
    });

    it(`${alg}: a header embedding the attacker's own public key (jwk) is rejected`, async () => {
      const store = new JwtSessionStore({ keys: [{ privateKey: pair.privateKey }], clock: clock.now });
      const attacker =
        alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
      const jwk = createPublicKey(attacker.privateKey).export({ format: 'jwk' });
      expect(await store.get(asymmetricToken({ alg, jwk }, payloadFor(), attacker.privateKey, alg))).toBeNull();
    });
  }

  it('ES256 store rejects an EdDSA token and vice versa (only configured algorithms)', async () => {
    const es = new JwtSessionStore({ keys: [{ privateKey: ec.privateKey }], clock: clock.now });
    const edStore = new JwtSessionStore({ keys: [{ privateKey: ed.privateKey }], clock: clock.now });
    expect(await es.get(await edStore.create(record(clock)))).toBeNull();
    expect(await edStore.get(await es.create(record(clock)))).toBeNull();
    expect(await es.get(asymmetricToken({ alg: 'EdDSA' }, payloadFor(), ed.privateKey, 'EdDSA'))).toBeNull();
  });

  it('a DER-encoded (not P-1363) ES256 signature is rejected', async () => {
    const { sign } = await import('node:crypto');
    const store = new JwtSessionStore({ keys: [{ privateKey: ec.privateKey }], clock: clock.now });
    const input = `${b64({ alg: 'ES256' })}.${b64(payloadFor())}`;
    const der = sign('sha256', Buffer.from(input), ec.privateKey).toString('base64url');
    expect(await store.get(`${input}.${der}`)).toBeNull();
  });

  it('ES256: the high-s twin of a real token (s replaced by n - s) is null; the token itself is accepted', async () => {
    const store = new JwtSessionStore({ keys: [{ privateKey: ec.privateKey }], clock: clock.now });
    for (let i = 0; i < 8; i++) {
      const token = await store.create(record(clock));
      expect(ecdsaS(token) <= P256_N / 2n).toBe(true); // the store signs low-s only
      const twin = ecdsaTwin(token, 'high');
      expect(twin).not.toBe(token);
      expect(ecdsaS(twin)).toBe(P256_N - ecdsaS(token));
      // the twin is a valid ECDSA signature over the same header and payload...
      const dot = twin.lastIndexOf('.');
      const signature = Buffer.from(twin.slice(dot + 1), 'base64url');
      expect(
        verify('sha256', Buffer.from(twin.slice(0, dot)), { key: ec.publicKey, dsaEncoding: 'ieee-p1363' }, signature),
      ).toBe(true);
      // ...and still a second spelling the store refuses (before and after the token is cached)
      expect(await store.get(twin)).toBeNull();
      expect((await store.get(token))?.userId).toBe(parts(token).payload.sub);
      expect(await store.get(twin)).toBeNull();
    }
  });

  it('ES256: a hand-signed high-s token is null through a verify-only key and through a JWKS too', async () => {
    const kid = 'es-1';
    const byKey = new JwtSessionStore({ keys: [{ secret }, { kid, publicKey: ec.publicKey }], clock: clock.now });
    const byJwks = new JwtSessionStore({
      secret,
      jwks: { keys: [{ ...ec.publicKey.export({ format: 'jwk' }), kid, alg: 'ES256' }] },
      clock: clock.now,
    });
    const low = asymmetricToken({ alg: 'ES256', kid }, payloadFor(), ec.privateKey, 'ES256');
    const high = ecdsaTwin(low, 'high');
    for (const store of [byKey, byJwks]) {
      expect(await store.get(low)).not.toBeNull();
      expect(await store.get(high)).toBeNull();
    }
  });
});

describe('issuer and audience', () => {
  const store = new JwtSessionStore({
    secret,
    issuer: 'https://auth.example',
    audience: ['app-a', 'app-b'],
    clock: clock.now,
  });
  const h = { alg: 'HS256', typ: 'JWT' };

  it('writes iss and aud, and accepts its own tokens', async () => {
    const token = await store.create(record(clock));
    expect(parts(token).payload).toMatchObject({ iss: 'https://auth.example', aud: ['app-a', 'app-b'] });
    expect(await store.get(token)).not.toBeNull();
  });

  it('accepts aud as a string or an array containing one configured audience', async () => {
    const iss = 'https://auth.example';
    expect(await store.get(hmacToken(h, payloadFor({ iss, aud: 'app-b' }), secret))).not.toBeNull();
    expect(await store.get(hmacToken(h, payloadFor({ iss, aud: ['other', 'app-a'] }), secret))).not.toBeNull();
  });

  it('rejects a missing or wrong issuer and a missing or wrong audience', async () => {
    const iss = 'https://auth.example';
    expect(await store.get(hmacToken(h, payloadFor({ aud: 'app-a' }), secret))).toBeNull();
    expect(await store.get(hmacToken(h, payloadFor({ iss: 'https://evil.example', aud: 'app-a' }), secret))).toBeNull();
    expect(await store.get(hmacToken(h, payloadFor({ iss: [iss], aud: 'app-a' }), secret))).toBeNull();
    expect(await store.get(hmacToken(h, payloadFor({ iss }), secret))).toBeNull();
    expect(await store.get(hmacToken(h, payloadFor({ iss, aud: 'app-c' }), secret))).toBeNull();
    expect(await store.get(hmacToken(h, payloadFor({ iss, aud: [] }), secret))).toBeNull();
    expect(await store.get(hmacToken(h, payloadFor({ iss, aud: [1] }), secret))).toBeNull();
  });

  it('a store with another issuer or audience rejects these tokens', async () => {
    const token = await store.create(record(clock));
    expect(
      await new JwtSessionStore({ secret, issuer: 'https://other.example', clock: clock.now }).get(token),
    ).toBeNull();
    expect(await new JwtSessionStore({ secret, audience: 'app-z', clock: clock.now }).get(token)).toBeNull();
    // a store that checks neither accepts them (iss/aud are only checked when configured)
    expect(await new JwtSessionStore({ secret, clock: clock.now }).get(token)).not.toBeNull();
  });
});

describe('hostile JWE tokens against an encrypting store', () => {
  const encKey = randomBytes(32);
  const store = new JwtSessionStore({ secret, encrypt: { secret: encKey }, clock: clock.now });

  function jwe(header: unknown, plaintext: string, key: Buffer = encKey, ivLength = 12): string {
    const headerB64 = b64(header);
    const iv = randomBytes(ivLength);
    const cipher = createCipheriv(key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(headerB64));
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return `${headerB64}..${iv.toString('base64url')}.${ct.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`;
  }

  const inner = () => hmacToken({ alg: 'HS256', typ: 'JWT' }, payloadFor(), secret);

  it('accepts the hand-made control JWE', async () => {
    expect((await store.get(jwe({ alg: 'dir', enc: 'A256GCM', cty: 'JWT' }, inner())))?.userId).toBe('victim');
  });

  it('rejects a plain signed token: an encrypting store accepts only JWE', async () => {
    expect(await store.get(inner())).toBeNull();
    expect(await store.get(await new JwtSessionStore({ secret, clock: clock.now }).create(record(clock)))).toBeNull();
  });

  it('rejects a JWE whose content is not signed with the store key (encryption alone is not enough)', async () => {
    expect(
      await store.get(jwe({ alg: 'dir', enc: 'A256GCM' }, hmacToken({ alg: 'HS256' }, payloadFor(), randomBytes(32)))),
    ).toBeNull();
    expect(
      await store.get(jwe({ alg: 'dir', enc: 'A256GCM' }, `${b64({ alg: 'none' })}.${b64(payloadFor())}.`)),
    ).toBeNull();
    expect(await store.get(jwe({ alg: 'dir', enc: 'A256GCM' }, JSON.stringify(payloadFor())))).toBeNull();
  });

  it('rejects other key management, other content encryption, other keys and zip', async () => {
    expect(await store.get(jwe({ alg: 'dir', enc: 'A128GCM' }, inner(), encKey.subarray(0, 16)))).toBeNull();
    expect(await store.get(jwe({ alg: 'dir', enc: 'A128GCM' }, inner()))).toBeNull();
    expect(await store.get(jwe({ alg: 'A256KW', enc: 'A256GCM' }, inner()))).toBeNull();
    expect(await store.get(jwe({ alg: 'dir', enc: 'A256GCM' }, inner(), randomBytes(32)))).toBeNull();
    expect(await store.get(jwe({ alg: 'dir', enc: 'A256GCM', zip: 'DEF' }, inner()))).toBeNull();
    expect(await store.get(jwe({ alg: 'dir', enc: 'A256GCM', kid: 'other' }, inner()))).toBeNull();
    expect(await store.get(jwe({ alg: 'dir', enc: 'A256GCM' }, inner(), encKey, 16))).toBeNull();
  });

  it('rejects tampering with any JWE segment', async () => {
    const token = await store.create(record(clock));
    const segs = token.split('.');
    expect(segs).toHaveLength(5);
    for (const i of [0, 2, 3, 4]) {
      const s = segs[i] as string;
      const changed = [...segs];
      changed[i] = (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
      expect(await store.get(changed.join('.'))).toBeNull();
    }
    const withKey = [...segs];
    withKey[1] = 'AAAA';
    expect(await store.get(withKey.join('.'))).toBeNull();
    // the header is authenticated: swapping in an equivalent header breaks the tag
    const swapped = [...segs];
    swapped[0] = b64({ enc: 'A256GCM', alg: 'dir', cty: 'JWT' });
    expect(await store.get(swapped.join('.'))).toBeNull();
    expect(await store.get(token)).not.toBeNull();
  });

  it('the encrypted token reveals nothing the client could read', async () => {
    const input = record(clock);
    const token = await store.create(input);
    const visible = token
      .split('.')
      .map((s) => Buffer.from(s, 'base64url').toString('latin1'))
      .join(' ');
    for (const secretText of [input.userId, input.tenantId, 'classified', 'password', 'sub', 'jti']) {
      expect(visible).not.toContain(secretText);
      expect(token).not.toContain(secretText);
    }
    expect(JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString())).toEqual({
      alg: 'dir',
      enc: 'A256GCM',
      cty: 'JWT',
    });
  });

  it('a JWE given to a store that does not encrypt is null', async () => {
    const token = await store.create(record(clock));
    expect(await new JwtSessionStore({ secret, clock: clock.now }).get(token)).toBeNull();
  });

  it('property: changing any one character of a JWE gives null', async () => {
    const token = await store.create(record(clock));
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: token.length - 1 }), fc.constantFrom(...'Aa0-_.=+/'), async (at, ch) => {
        fc.pre(token[at] !== ch);
        expect(await store.get(token.slice(0, at) + ch + token.slice(at + 1))).toBeNull();
      }),
      { numRuns: 200 },
    );
  });
});

describe('HMAC over the exact bytes', () => {
  it('the signature covers the ASCII of header.payload as sent (RFC 7515)', async () => {
    const store = new JwtSessionStore({ secret, clock: clock.now });
    const token = await store.create(record(clock));
    const [h, p, s] = token.split('.') as [string, string, string];
    expect(createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url')).toBe(s);
  });
});
