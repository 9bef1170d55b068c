// store-jwt on this runtime: its conformance suite (stateless: true) with HS256, ES256 and
// EdDSA keys made here with Web Crypto, MemoryRevocationStore, encryption, and the parts
// of the store that touch the platform (key forms, HKDF, low-s ES256). Registered by
// registerJwtTests() before the run, because the keys are made asynchronously. A key type
// the runtime's Web Crypto lacks is registered as skipped, with the reason in `notes`.
import { SessionError, tenantId } from '@sessionkit/core';
import { describeSessionStore } from '@sessionkit/core/testing';
import { JwtSessionStore, MemoryRevocationStore } from '@sessionkit/store-jwt';
import { base64url, compactDecrypt } from 'jose';
import { describe, it } from './runner.mjs';

const STATEFUL = { list: false, revoke: true, revokeUser: true, mutate: false, cleanup: true, customIds: false };
const STATELESS = { list: false, revoke: false, revokeUser: false, mutate: false, cleanup: false, customIds: false };
// The suite's records are up to 64 KiB of random JSON: allow tokens that large.
const MAX_TOKEN_BYTES = 128 * 1024;
// HKDF-SHA256(passphrase, empty salt, 'sessionkit/store-jwt A256GCM'), as Node's hkdfSync computes it.
const PASSPHRASE = 'an encryption passphrase of 32+ bytes!!';
const PASSPHRASE_KEY = '2ceb814ba95e0d4d037c21ce9d926dae57e944277a86a36637cd354324d651bc';
const P256_HALF_N = BigInt('0x7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8');

function check(condition, message) {
  if (!condition) throw new Error(message);
}

function record(overrides = {}) {
  const now = Date.now();
  return {
    id: '',
    userId: 'u',
    tenantId: tenantId('t'),
    transactionId: 'tx',
    factorsUsed: ['password'],
    assuranceLevel: 1,
    metadata: { text: 'ünïcødé ✓ 😀' },
    createdAt: new Date(now),
    expiresAt: new Date(now + 60_000),
    lastActivityAt: new Date(now),
    ...overrides,
  };
}

async function generate(algorithm) {
  return crypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
}

/** A key pair for EdDSA, or the reason this runtime's Web Crypto has none. */
async function ed25519() {
  try {
    return { pair: await generate({ name: 'Ed25519' }) };
  } catch (error) {
    return { reason: `Web Crypto here has no Ed25519 (${error?.name ?? 'Error'}: ${error?.message ?? error})` };
  }
}

function fromHex(hex) {
  return Uint8Array.from(hex.match(/../g), (h) => Number.parseInt(h, 16));
}

function pem(label, bytes) {
  let text = '';
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return `-----BEGIN ${label}-----\n${btoa(text).replace(/.{64}/g, '$&\n')}\n-----END ${label}-----\n`;
}

/** Registers store-jwt's tests; resolves notes on what was skipped and why. */
export async function registerJwtTests() {
  const notes = [];
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const ec = await generate({ name: 'ECDSA', namedCurve: 'P-256' });
  const ed = await ed25519();
  if (ed.reason) notes.push(`store-jwt EdDSA skipped: ${ed.reason}`);

  const variant = (name, options, capabilities, skip) =>
    describeSessionStore({
      name,
      create: ({ clock, maxLifetimeMs, maxRecordBytes }) =>
        new JwtSessionStore({
          ...options,
          ...(capabilities.revoke ? { revocations: new MemoryRevocationStore() } : {}),
          clock,
          maxLifetimeMs,
          maxRecordBytes,
          maxTokenBytes: MAX_TOKEN_BYTES,
        }),
      capabilities,
      stateless: true,
      runner: { describe, it: skip ? it.skip : it },
    });

  variant('JwtSessionStore (HS256, stateless)', { secret }, STATELESS);
  variant('JwtSessionStore (HS256, MemoryRevocationStore)', { secret }, STATEFUL);
  variant(
    'JwtSessionStore (ES256, MemoryRevocationStore, issuer + audience, JWE with an HKDF-stretched secret)',
    {
      keys: [{ privateKey: ec.privateKey }],
      issuer: 'https://auth.example',
      audience: ['app-a', 'app-b'],
      encrypt: { secret: PASSPHRASE },
    },
    STATEFUL,
  );
  variant(
    'JwtSessionStore (EdDSA + JWE A256GCM, MemoryRevocationStore, no verify cache)',
    ed.pair
      ? {
          keys: [{ privateKey: ed.pair.privateKey, kid: 'ed-1' }],
          encrypt: { secret: crypto.getRandomValues(new Uint8Array(32)) },
          verifyCacheSize: 0,
        }
      : {},
    STATEFUL,
    ed.reason !== undefined,
  );

  describe('store-jwt on this runtime', () => {
    it('key forms: CryptoKey, JWK, PKCS#8 and SPKI PEM sign and verify; the default kid is the same', async () => {
      const jwk = await crypto.subtle.exportKey('jwk', ec.privateKey);
      const pkcs8 = pem('PRIVATE KEY', await crypto.subtle.exportKey('pkcs8', ec.privateKey));
      const spki = pem('PUBLIC KEY', await crypto.subtle.exportKey('spki', ec.publicKey));
      const verifier = new JwtSessionStore({ keys: [{ privateKey: ec.privateKey, kid: 'k' }, { publicKey: spki }] });
      for (const privateKey of [ec.privateKey, jwk, pkcs8]) {
        const store = new JwtSessionStore({ keys: [{ privateKey }] });
        const token = await store.create(record());
        check((await store.get(token))?.metadata.text === 'ünïcødé ✓ 😀', 'the signer reads its token back');
        check((await verifier.get(token)) !== null, 'a verify-only SPKI key (same default kid) accepts it');
      }
    });
    it('every ES256 signature is low-s (s <= n/2)', async () => {
      const store = new JwtSessionStore({ keys: [{ privateKey: ec.privateKey }] });
      for (let i = 0; i < 40; i++) {
        const token = await store.create(record());
        const sig = base64url.decode(token.slice(token.lastIndexOf('.') + 1));
        let s = 0n;
        for (const b of sig.subarray(32)) s = (s << 8n) | BigInt(b);
        check(sig.length === 64 && s <= P256_HALF_N, `signature ${i} has a high s`);
        check((await store.get(token)) !== null, 'the token verifies');
      }
    });
    it('a string encryption secret is stretched with HKDF-SHA256 to the same key as in Node', async () => {
      const store = new JwtSessionStore({ secret, encrypt: { secret: PASSPHRASE } });
      const token = await store.create(record());
      const { plaintext } = await compactDecrypt(token, fromHex(PASSPHRASE_KEY));
      check(new TextDecoder().decode(plaintext).split('.').length === 3, 'the JWE holds a signed JWT');
    });
    it('a key that passes the constructor but that Web Crypto refuses rejects every operation INVALID naming it', async () => {
      // the right lengths, but (0, 0) is not a point on P-256
      const zero = base64url.encode(new Uint8Array(32));
      const store = new JwtSessionStore({
        keys: [{ privateKey: { kty: 'EC', crv: 'P-256', x: zero, y: zero, d: zero } }],
      });
      for (const op of [() => store.create(record()), () => store.get('a'.repeat(40))]) {
        let caught;
        try {
          await op();
        } catch (error) {
          caught = error;
        }
        check(SessionError.hasCode(caught, 'INVALID'), `expected INVALID, got ${caught}`);
        check(caught.field === 'keys[0].privateKey', `named ${caught.field}`);
      }
    });
  });
  return notes;
}
