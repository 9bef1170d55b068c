// The store's name and the defaults and bounds of its options: facts written once,
// imported by every file that names the store in an error or checks an option. It imports
// nothing, so any file can use it without a cycle.

/** The store's short name: errors read `[sessionkit/jwt] <operation>: ...`. */
export const STORE = 'jwt';
/** Default `maxTokenBytes`: what fits in a cookie. */
export const DEFAULT_MAX_TOKEN_BYTES = 4096;
/** The smallest `maxTokenBytes`. */
export const MIN_MAX_TOKEN_BYTES = 256;
/** Default `verifyCacheSize`: verified tokens kept (a few MB at most). */
export const DEFAULT_VERIFY_CACHE_SIZE = 1000;
/** The largest `verifyCacheSize`. */
export const MAX_VERIFY_CACHE_SIZE = 1_000_000;
/** Default `algorithm`, the HMAC algorithm used with `secret`. */
export const DEFAULT_ALGORITHM = 'HS256';
/** The longest `kid` (of `keys` entries and of `encrypt`). */
export const MAX_KID_LENGTH = 256;
