// The store's keys once imported for jose: every key (the first signs), the exact JWS
// header segments this store writes (so get knows its own tokens' key without parsing
// the header), and the JWE settings. Web Crypto imports are asynchronous: the constructor
// starts them (KeyRing) and the first operation waits for them.
import { describeError, SessionError } from '@sessionkit/core';
import { base64url, type CompactJWEHeaderParameters, type CompactJWSHeaderParameters, type CryptoKey } from 'jose';
import { STORE } from './constants.js';
import { importEncryptionKey, importKey } from './key-import.js';
import { type CheckedKey, type EncryptionSecret, KeyImportError, type ResolvedKey } from './signing-keys.js';

/** What `encrypt` sets: the JWE header this store writes (and its base64url), and its kid. */
export interface Encryption {
  readonly kid: string | undefined;
  readonly header: CompactJWEHeaderParameters;
  readonly headerB64: string;
}

/** The JWE header of `encrypt` (`dir` + `A256GCM`, a nested JWT, its kid if any). */
export function encryptionHeader(kid: string | undefined): Encryption {
  const header: CompactJWEHeaderParameters =
    kid === undefined ? { alg: 'dir', enc: 'A256GCM', cty: 'JWT' } : { alg: 'dir', enc: 'A256GCM', cty: 'JWT', kid };
  return { kid, header, headerB64: base64url.encode(JSON.stringify(header)) };
}

/** The keys, imported. */
export interface Prepared {
  /** Every key; the first signs. */
  readonly keys: ResolvedKey[];
  readonly signing: ResolvedKey & { signKey: CryptoKey };
  readonly signingHeader: CompactJWSHeaderParameters;
  /** base64url of the signing header, plus the '.' */
  readonly signingPrefixLength: number;
  /** Exact header segments this store writes, mapped to the key that made them. */
  readonly knownHeaders: Map<string, ResolvedKey>;
  /** The A256GCM key, when encrypting. */
  readonly cek: CryptoKey | undefined;
}

/** Imports the checked keys for jose and works out the headers this store writes. */
async function prepare(checked: CheckedKey[], encryptionSecret: EncryptionSecret | undefined): Promise<Prepared> {
  const keys = await Promise.all(checked.map(importKey));
  const knownHeaders = new Map<string, ResolvedKey>();
  const headers = keys.map((key) => {
    const header: CompactJWSHeaderParameters =
      key.kid === undefined ? { alg: key.alg, typ: 'JWT' } : { alg: key.alg, typ: 'JWT', kid: key.kid };
    // jose writes the protected header as base64url(JSON.stringify(header)): the same text.
    const b64 = base64url.encode(JSON.stringify(header));
    if (!knownHeaders.has(b64)) knownHeaders.set(b64, key);
    return { header, b64 };
  });
  const signing = keys[0] as ResolvedKey & { signKey: CryptoKey };
  const first = headers[0] as { header: CompactJWSHeaderParameters; b64: string };
  return {
    keys,
    signing,
    signingHeader: first.header,
    signingPrefixLength: first.b64.length + 1,
    knownHeaders,
    cek: encryptionSecret === undefined ? undefined : await importEncryptionKey('encrypt.secret', encryptionSecret),
  };
}

/** The keys of one store: the import starts at construction; {@link load} waits for it. */
export class KeyRing {
  /** Resolves once the keys are imported; rejects (KeyImportError) if one cannot be. */
  readonly #loading: Promise<Prepared>;
  #prepared: Prepared | undefined;

  constructor(checked: CheckedKey[], encryptionSecret: EncryptionSecret | undefined) {
    // Every key was checked synchronously already, so this only makes CryptoKeys.
    this.#loading = prepare(checked, encryptionSecret);
    this.#loading.then(
      (prepared) => {
        this.#prepared = prepared;
      },
      () => {}, // reported by the first operation (see load)
    );
  }

  /** The imported keys once the import has resolved (operations then skip the await). */
  get prepared(): Prepared | undefined {
    return this.#prepared;
  }

  /**
   * The imported keys, waiting for the import. A key that passed the constructor's checks
   * but that Web Crypto refused makes every operation reject INVALID naming its option.
   */
  async load(operation: string): Promise<Prepared> {
    try {
      return await this.#loading;
    } catch (error) {
      const field = error instanceof KeyImportError ? error.field : 'keys';
      throw new SessionError('INVALID', `option ${field} ${describeError(error)}`, {
        store: STORE,
        operation,
        field,
        cause: error instanceof KeyImportError ? (error.cause ?? error) : error,
      });
    }
  }
}
