import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { StoreCapabilities } from '@sessionkit/core';
import { describeSessionStore } from '@sessionkit/core/testing';
import { describe, it } from 'vitest';
import { JwtSessionStore, type JwtSessionStoreOptions, MemoryRevocationStore } from '../src/index.js';

const STATEFUL: StoreCapabilities = {
  list: false,
  revoke: true,
  revokeUser: true,
  mutate: false,
  cleanup: true,
  customIds: false,
};
const STATELESS: StoreCapabilities = {
  list: false,
  revoke: false,
  revokeUser: false,
  mutate: false,
  cleanup: false,
  customIds: false,
};

// The suite stores records up to 64 KiB (maxRecordBytes' default) and random JSON: allow
// tokens that large, so it tests fidelity, not the cookie-sized default of maxTokenBytes.
const MAX_TOKEN_BYTES = 128 * 1024;

const secret = randomBytes(32);
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');

function variant(name: string, options: Partial<JwtSessionStoreOptions>, capabilities: StoreCapabilities): void {
  describeSessionStore({
    name,
    create: ({ clock, maxLifetimeMs, maxRecordBytes }) =>
      new JwtSessionStore({
        secret,
        ...options,
        ...(options.revocations ? { revocations: new MemoryRevocationStore() } : {}),
        clock,
        maxLifetimeMs,
        maxRecordBytes,
        maxTokenBytes: MAX_TOKEN_BYTES,
      }),
    capabilities,
    // tokens, not records: deleteByUser cannot count, cleanupExpired counts revocations
    stateless: true,
    runner: { describe, it: it },
  });
}

variant('JwtSessionStore (HS256, MemoryRevocationStore)', { revocations: new MemoryRevocationStore() }, STATEFUL);
variant('JwtSessionStore (HS256, stateless)', {}, STATELESS);
variant(
  'JwtSessionStore (ES256, MemoryRevocationStore, issuer + audience)',
  {
    secret: undefined,
    keys: [{ privateKey: ec.privateKey }],
    issuer: 'https://auth.example',
    audience: ['app-a', 'app-b'],
    revocations: new MemoryRevocationStore(),
  },
  STATEFUL,
);
variant(
  'JwtSessionStore (EdDSA + JWE A256GCM, MemoryRevocationStore, no verify cache)',
  {
    secret: undefined,
    keys: [{ privateKey: ed.privateKey, kid: 'ed-1' }],
    encrypt: { secret: randomBytes(32) },
    verifyCacheSize: 0,
    revocations: new MemoryRevocationStore(),
  },
  STATEFUL,
);
