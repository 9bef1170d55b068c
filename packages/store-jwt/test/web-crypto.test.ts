// store-jwt runs on Web Crypto alone: what the constructor checks without crypto, and what
// the import (awaited by the first operation) decides, naming the option either way.
import { generateKeyPairSync, hkdfSync, randomBytes } from 'node:crypto';
import { SessionError } from '@sessionkit/core';
import * as jose from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { JwtSessionStore, type JwtSessionStoreOptions } from '../src/index.js';
import { record, TestClock } from './helpers.js';

const zero = jose.base64url.encode(new Uint8Array(32));

function constructorError(options: unknown): SessionError {
  try {
    new JwtSessionStore(options as JwtSessionStoreOptions);
  } catch (error) {
    return error as SessionError;
  }
  throw new Error('the constructor accepted it');
}

/** Every operation that needs the keys rejects INVALID naming `field`. */
async function expectImportFailure(store: JwtSessionStore, field: string): Promise<void> {
  const clock = new TestClock();
  for (const op of [() => store.create(record(clock)), () => store.get('x'.repeat(40))]) {
    const error = await op().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(SessionError.hasCode(error, 'INVALID'), String(error)).toBe(true);
    expect((error as SessionError).field).toBe(field);
    expect((error as SessionError).message).toContain(`option ${field} `);
  }
}

describe('Web Crypto import', () => {
  const restore: (() => void)[] = [];
  afterEach(() => {
    for (const r of restore.splice(0)) r();
  });

  it('a string encryption secret is stretched exactly as HKDF-SHA256 (empty salt) in Node', async () => {
    const clock = new TestClock();
    const passphrase = 'an encryption passphrase of 32+ bytes!!';
    const store = new JwtSessionStore({ secret: randomBytes(32), encrypt: { secret: passphrase }, clock: clock.now });
    const token = await store.create(record(clock));
    const key = new Uint8Array(hkdfSync('sha256', passphrase, new Uint8Array(0), 'sessionkit/store-jwt A256GCM', 32));
    const { plaintext } = await jose.compactDecrypt(token, key);
    expect(new TextDecoder().decode(plaintext).split('.')).toHaveLength(3);
  });

  it('a JWK of the right shape that Web Crypto refuses rejects every operation INVALID naming it', async () => {
    // (0, 0) is not a point of P-256
    const store = new JwtSessionStore({
      keys: [{ privateKey: { kty: 'EC', crv: 'P-256', x: zero, y: zero, d: zero } }],
      revocations: {
        revokeToken: async () => {},
        revokeUser: async () => {},
        isRevoked: async () => false,
        cleanupExpired: async () => 0,
      },
    });
    await expectImportFailure(store, 'keys[0].privateKey');
    const pub = new JwtSessionStore({
      keys: [{ secret: randomBytes(32) }, { publicKey: { kty: 'EC', crv: 'P-256', x: zero, y: zero } }],
    });
    // a bad verify-only key fails the whole store: no operation runs with half the keys
    const error = await pub.get('x'.repeat(40)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(SessionError.hasCode(error, 'INVALID')).toBe(true);
  });

  it("a private JWK whose x/y are not its d's public key is refused at import, naming it", async () => {
    const a = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    const b = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    const store = new JwtSessionStore({ keys: [{ privateKey: { ...a, x: b.x, y: b.y } as never }] });
    await expectImportFailure(store, 'keys[0].privateKey');
  });

  it('PEM keys whose pair does not match are refused at import, naming publicKey', async () => {
    const a = generateKeyPairSync('ed25519');
    const b = generateKeyPairSync('ed25519');
    const store = new JwtSessionStore({
      keys: [
        {
          privateKey: a.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
          publicKey: b.publicKey.export({ type: 'spki', format: 'pem' }) as string,
        },
      ],
    });
    await expectImportFailure(store, 'keys[0].publicKey');
  });

  it('non-extractable CryptoKeys: a matching publicKey works, another one is refused naming it', async () => {
    const clock = new TestClock();
    const pair = await jose.generateKeyPair('ES256'); // non-extractable private key
    const other = await jose.generateKeyPair('ES256');
    const ok = new JwtSessionStore({
      keys: [{ privateKey: pair.privateKey, publicKey: pair.publicKey }],
      clock: clock.now,
    });
    expect(await ok.get(await ok.create(record(clock)))).not.toBeNull();
    const nonExtractablePublic = await crypto.subtle.importKey(
      'jwk',
      await crypto.subtle.exportKey('jwk', other.publicKey),
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['verify'],
    );
    const bad = new JwtSessionStore({
      keys: [{ privateKey: pair.privateKey, publicKey: nonExtractablePublic, kid: 'k' }],
    });
    await expectImportFailure(bad, 'keys[0].publicKey');
  });

  it('without Node: a non-extractable private CryptoKey alone is refused naming publicKey (Web Crypto cannot derive it)', async () => {
    const proc = process as { getBuiltinModule?: unknown };
    const saved = proc.getBuiltinModule;
    proc.getBuiltinModule = undefined;
    restore.push(() => {
      proc.getBuiltinModule = saved;
    });
    const pair = await jose.generateKeyPair('EdDSA');
    await expectImportFailure(new JwtSessionStore({ keys: [{ privateKey: pair.privateKey }] }), 'keys[0].publicKey');
    // an extractable one is fine anywhere
    const clock = new TestClock();
    const extractable = await jose.generateKeyPair('EdDSA', { extractable: true });
    const store = new JwtSessionStore({ keys: [{ privateKey: extractable.privateKey }], clock: clock.now });
    expect(await store.get(await store.create(record(clock)))).not.toBeNull();
  });

  it('the constructor checks PEM framing and key type, JWK members and CryptoKey kinds without crypto', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const cases: [unknown, string][] = [
      [ec.privateKey.export({ type: 'sec1', format: 'pem' }), 'keys[0].privateKey'], // SEC1: convert to PKCS#8
      [rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }), 'keys[0]'],
      [ec.publicKey.export({ type: 'spki', format: 'pem' }), 'keys[0].privateKey'], // a public key to sign
      ['-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n', 'keys[0].privateKey'],
      ['-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', 'keys[0].privateKey'],
      [{ kty: 'EC', crv: 'P-256', x: zero, y: zero }, 'keys[0].privateKey'], // no d
      [{ kty: 'OKP', crv: 'Ed25519', x: zero, d: 'short' }, 'keys[0].privateKey'],
      [{ kty: 'OKP', crv: 'X25519', x: zero, d: zero }, 'keys[0]'],
      [(await jose.generateKeyPair('ES256')).publicKey, 'keys[0].privateKey'],
      [await crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['sign']), 'keys[0].privateKey'],
    ];
    for (const [privateKey, field] of cases) {
      const error = constructorError({ keys: [{ privateKey }] });
      expect(SessionError.hasCode(error, 'INVALID'), String(privateKey)).toBe(true);
      expect(error.field, String(error.message)).toBe(field);
    }
  });
});
