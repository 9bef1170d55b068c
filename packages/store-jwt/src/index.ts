/**
 * @module @sessionkit/store-jwt
 */
export { DEFAULT_MAX_TOKEN_BYTES, DEFAULT_VERIFY_CACHE_SIZE, JwtSessionStore } from './jwt-store.js';
export type {
  AsymmetricAlgorithm,
  HmacAlgorithm,
  JwtAlgorithm,
  JwtKeySpec,
  KeyInput,
  KeyPairSpec,
  SecretKeySpec,
} from './keys.js';
export type { JsonWebKeySet, JwtEncryptionOptions, JwtSessionStoreOptions } from './options.js';
export { MemoryRevocationStore, type RevocationCheck, type RevocationStore } from './revocation.js';
