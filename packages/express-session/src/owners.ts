// Who owns a session: the user and tenant a saved session is kept under (read from the
// session by the `userOf` and `tenantOf` options, with a pseudo-user of its own for a
// session that has no user yet), and the user and tenant arguments of listSessions,
// revokeSession and revokeUser.
import { invalidInput, type TenantId, tenantId } from '@sessionkit/core';
import { sha256 } from './digest.js';
import { STORE } from './errors.js';
import { ANONYMOUS_PREFIX, type SessionData } from './options.js';

export class Owners {
  readonly #userOf: (session: SessionData) => unknown;
  readonly #tenantOf: ((session: SessionData) => unknown) | undefined;
  /** The `tenant` option: every session's tenant without `tenantOf`, and the default tenant argument. */
  readonly #tenant: TenantId;

  constructor(settings: {
    userOf: (session: SessionData) => unknown;
    tenantOf: ((session: SessionData) => unknown) | undefined;
    tenant: TenantId;
  }) {
    this.#userOf = settings.userOf;
    this.#tenantOf = settings.tenantOf;
    this.#tenant = settings.tenant;
  }

  /** The user of a session, or its own pseudo-user `anon:<sha256 of sid>` when it has none yet. */
  userIdOf(session: SessionData, sid: string): string {
    let user: unknown;
    try {
      user = this.#userOf(session);
    } catch (error) {
      throw invalidInput(STORE, 'set', 'userOf', `threw: ${(error as Error)?.message}`, error);
    }
    if (user === undefined || user === null) return `${ANONYMOUS_PREFIX}${sha256(sid)}`;
    if (typeof user === 'number' && Number.isFinite(user)) return String(user);
    if (typeof user === 'string' && user.length > 0) return user;
    throw invalidInput(
      STORE,
      'set',
      'userOf',
      'must return a non-empty string, a finite number, or undefined for no user',
    );
  }

  /** The tenant of a session: what `tenantOf` returns, else the `tenant` option. */
  tenantIdOf(session: SessionData): TenantId {
    if (!this.#tenantOf) return this.#tenant;
    let value: unknown;
    try {
      value = this.#tenantOf(session);
    } catch (error) {
      throw invalidInput(STORE, 'set', 'tenantOf', `threw: ${(error as Error)?.message}`, error);
    }
    try {
      return tenantId(value as string);
    } catch (error) {
      throw invalidInput(STORE, 'set', 'tenantOf', `returned an invalid tenant: ${(error as Error).message}`);
    }
  }

  /** A `userId` argument as the user id it names (a finite number as its string). */
  userIdArg(operation: string, userId: unknown): string {
    if (typeof userId === 'number' && Number.isFinite(userId)) return String(userId);
    if (typeof userId === 'string' && userId.length > 0) return userId;
    throw invalidInput(STORE, operation, 'userId', 'must be a non-empty string or a finite number');
  }

  /** A `tenant` argument as a tenant id; `undefined` is the `tenant` option. */
  tenantArg(tenant: string | undefined): TenantId {
    return tenant === undefined ? this.#tenant : tenantId(tenant);
  }
}
