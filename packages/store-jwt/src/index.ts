/**
 * @module @sessionkit/store-jwt
 */
export { JwtSessionStore } from './jwt-store.js';
export {
  DEFAULT_MAX_TOKEN_BYTES,
  DEFAULT_VERIFY_CACHE_SIZE,
  type JsonWebKeySet,
  type JwtEncryptionOptions,
  type JwtSessionStoreOptions,
} from './options.js';
export { MemoryRevocationStore, type RevocationCheck, type RevocationStore } from './revocation.js';
export type {
  AsymmetricAlgorithm,
  HmacAlgorithm,
  JwtAlgorithm,
  JwtKeySpec,
  KeyInput,
  KeyPairSpec,
  SecretKeySpec,
} from './signing-keys.js';
