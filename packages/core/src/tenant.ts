import { SessionError } from './errors.js';

/**
 * A tenant identifier. The brand exists only in the type system: it makes
 * `listByUser(tenant, user)` (arguments swapped) a compile error. Make one with
 * {@link tenantId}.
 */
export type TenantId = string & { readonly __brand: 'TenantId' };

/** The longest identifier (user, tenant, session id, factor, transaction id) in UTF-16 units. */
export const MAX_IDENTIFIER_LENGTH = 256;

// Unicode category Cc: U+0000–U+001F and U+007F–U+009F.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/** True when `value` contains a Unicode Cc control character. */
export function hasControlCharacters(value: string): boolean {
  return CONTROL_CHARACTERS.test(value);
}

// A lone surrogate cannot be written as UTF-8: backends would store U+FFFD instead,
// and two distinct identifiers could collide. Identifiers must be well-formed.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** True when `value` has no lone surrogate (String.prototype.isWellFormed, for Node 20). */
export function isWellFormed(value: string): boolean {
  return !LONE_SURROGATE.test(value);
}

/**
 * Checks an identifier string and returns why it is bad, or `undefined` when it is fine.
 * @internal shared by tenantId(), record validation and store arguments.
 */
export function identifierProblem(value: unknown, allowEmpty: boolean): string | undefined {
  if (typeof value !== 'string') return `must be a string, got ${describeType(value)}`;
  if (value.length === 0 && !allowEmpty) return 'must not be empty';
  if (value.length > MAX_IDENTIFIER_LENGTH) {
    return `must be at most ${MAX_IDENTIFIER_LENGTH} characters, got ${value.length}`;
  }
  if (hasControlCharacters(value)) return 'must not contain control characters';
  if (!isWellFormed(value)) return 'must be well-formed Unicode (it contains a lone surrogate)';
  return undefined;
}

/** @internal */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a Date';
  return typeof value;
}

/**
 * Makes a {@link TenantId}. Throws a `SessionError` `INVALID` for a non-string, an empty
 * string, a string over 256 characters, one with control characters (Unicode Cc), or
 * one that is not well-formed Unicode (a lone surrogate, which no UTF-8 backend can store).
 *
 * @example
 * const acme = tenantId('acme')
 * await store.listByUser('user-1', acme)
 */
export function tenantId(value: string): TenantId {
  const problem = identifierProblem(value, false);
  if (problem) {
    throw new SessionError('INVALID', `tenantId ${problem}`, { operation: 'tenantId', field: 'tenantId' });
  }
  return value as TenantId;
}
