// store-jwt next to raw jose 6 used as its README shows (SignJWT / jwtVerify; HS256 with
// a Uint8Array secret, which jose imports on every call; ES256 and EdDSA with the
// CryptoKeys generateKeyPair returns), signing the same claims (the ~1 KB metadata plus
// the record's fields), and next to iron-session 8.0.4's sealData / unsealData (the
// encrypted-cookie peer) for HS256 and for encrypted tokens. Plus, for HS256, jose with a
// pre-imported CryptoKey, to show what importing once is worth on its own.
// Each get reads one of 1000 distinct tokens made beforehand; no server is needed.
import { randomBytes, randomUUID } from 'node:crypto';
import { JwtSessionStore } from '@sessionkit/store-jwt';
import * as jose from 'jose';
import { compare, sampleMetadata, sessionRecord } from '../harness.mjs';

const STORE = 'jwt';
const HOUR = 3_600_000;
const TOKENS = 1000;
const metadata = sampleMetadata();

const record = (now) => sessionRecord('', 'user-42', now, metadata);

// The same claims the store writes, given to jose (SignJWT or EncryptJWT) the way its docs do.
function joseJwt(Builder, header) {
  const now = Date.now();
  return new Builder({
    tid: 'acme',
    sat: now,
    cat: now,
    eat: now + HOUR,
    lat: now,
    txn: 'tx-1',
    amr: ['password', 'totp'],
    aal: 2,
    md: metadata,
  })
    .setProtectedHeader(header)
    .setSubject('user-42')
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime('1h');
}

const joseSign = (alg, key) => joseJwt(jose.SignJWT, { alg }).sign(key);

// create, then get of tokens read before (the default store: verify cache hits) and with
// every signature checked (verifyCacheSize: 0), at concurrency 1 and 64.
async function createAndGet(label, stores, tokens, createRefs, getRefs) {
  for (const concurrency of [1, 64]) {
    await compare({
      store: STORE,
      op: `create ${label}`,
      concurrency,
      subject: () => stores.cached.create(record(Date.now())),
      references: createRefs,
    });
    for (const kind of ['cached', 'uncached']) {
      await compare({
        store: STORE,
        op: `get ${label} (${kind})`,
        concurrency,
        subject: (i) => stores[kind].get(tokens[i % TOKENS]),
        references: getRefs,
      });
    }
  }
}

async function pool(make) {
  const out = [];
  for (let i = 0; i < TOKENS; i++) out.push(await make());
  return out;
}

async function loadIron() {
  try {
    const iron = await import('iron-session');
    const password = randomBytes(32).toString('hex');
    const data = {
      userId: 'user-42',
      tenantId: 'acme',
      transactionId: 'tx-1',
      factorsUsed: ['password', 'totp'],
      assuranceLevel: 2,
      metadata,
    };
    const sealed = await iron.sealData(data, { password, ttl: 3600 });
    const back = await iron.unsealData(sealed, { password, ttl: 3600 });
    if (back.userId !== 'user-42') throw new Error('unsealData did not round-trip');
    const seals = await pool(() => iron.sealData(data, { password, ttl: 3600 }));
    return {
      seal: { name: 'iron-session 8.0.4 sealData', fn: () => iron.sealData(data, { password, ttl: 3600 }) },
      unseal: {
        name: 'iron-session 8.0.4 unsealData',
        fn: (i) => iron.unsealData(seals[i % TOKENS], { password, ttl: 3600 }),
      },
    };
  } catch (error) {
    process.stderr.write(`  iron-session not measured: ${error.message}\n`);
    return undefined;
  }
}

export async function run() {
  const iron = await loadIron();
  const secretBytes = randomBytes(32);
  const docsSecret = new TextEncoder().encode(secretBytes.toString('hex')); // as jose's docs: TextEncoder().encode(hex)
  const ec = await jose.generateKeyPair('ES256');
  const ed = await jose.generateKeyPair('EdDSA');

  const variants = [
    {
      label: 'HS256',
      options: { secret: docsSecret },
      signKey: docsSecret,
      verifyKey: docsSecret,
      extra: async () => {
        // jose.importJWK returns an 'oct' key's raw bytes (imported again on every call),
        // so the CryptoKey is made with WebCrypto directly.
        const imported = await crypto.subtle.importKey('raw', docsSecret, { name: 'HMAC', hash: 'SHA-256' }, false, [
          'sign',
          'verify',
        ]);
        return { signKey: imported, verifyKey: imported, name: 'jose (CryptoKey imported once)' };
      },
      iron: true,
    },
    {
      label: 'ES256',
      options: { keys: [{ privateKey: ec.privateKey }] },
      signKey: ec.privateKey,
      verifyKey: ec.publicKey,
    },
    {
      label: 'EdDSA',
      options: { keys: [{ privateKey: ed.privateKey }] },
      signKey: ed.privateKey,
      verifyKey: ed.publicKey,
    },
  ];

  for (const v of variants) {
    const alg = v.label;
    // The default store remembers 1000 verified tokens (verifyCacheSize), so its get of
    // the same 1000 tokens, read again and again, is a cache hit: what a session read on
    // every request of a returning user costs. The uncached store checks every signature.
    const store = new JwtSessionStore(v.options);
    const uncached = new JwtSessionStore({ ...v.options, verifyCacheSize: 0 });
    const tokens = await pool(() => store.create(record(Date.now())));
    const joseTokens = await pool(() => joseSign(alg, v.signKey));
    const createRefs = [{ name: 'jose SignJWT (docs usage)', fn: () => joseSign(alg, v.signKey) }];
    const getRefs = [
      { name: 'jose jwtVerify (docs usage)', fn: (i) => jose.jwtVerify(joseTokens[i % TOKENS], v.verifyKey) },
    ];
    if (v.extra) {
      const extra = await v.extra();
      createRefs.push({ name: `${extra.name} SignJWT`, fn: () => joseSign(alg, extra.signKey) });
      getRefs.push({
        name: `${extra.name} jwtVerify`,
        fn: (i) => jose.jwtVerify(joseTokens[i % TOKENS], extra.verifyKey),
      });
    }
    if (v.iron && iron) {
      createRefs.push(iron.seal);
      getRefs.push(iron.unseal);
    }
    await createAndGet(alg, { cached: store, uncached }, tokens, createRefs, getRefs);
  }

  // Encrypted tokens (HS256 signed, then JWE dir + A256GCM) next to iron-session, which
  // also encrypts; and jose's own EncryptJWT/jwtDecrypt with the same 32-byte key.
  const encKey = randomBytes(32);
  const encrypted = new JwtSessionStore({ secret: docsSecret, encrypt: { secret: encKey } });
  const encryptedUncached = new JwtSessionStore({
    secret: docsSecret,
    encrypt: { secret: encKey },
    verifyCacheSize: 0,
  });
  const encTokens = await pool(() => encrypted.create(record(Date.now())));
  const joseEncrypt = () => joseJwt(jose.EncryptJWT, { alg: 'dir', enc: 'A256GCM' }).encrypt(new Uint8Array(encKey));
  const joseEncTokens = await pool(joseEncrypt);
  const encCreateRefs = [{ name: 'jose EncryptJWT (docs usage)', fn: joseEncrypt }];
  const encGetRefs = [
    {
      name: 'jose jwtDecrypt (docs usage)',
      fn: (i) => jose.jwtDecrypt(joseEncTokens[i % TOKENS], new Uint8Array(encKey)),
    },
  ];
  if (iron) {
    encCreateRefs.push(iron.seal);
    encGetRefs.push(iron.unseal);
  }
  await createAndGet(
    'HS256+JWE',
    { cached: encrypted, uncached: encryptedUncached },
    encTokens,
    encCreateRefs,
    encGetRefs,
  );
}
