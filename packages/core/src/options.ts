import { SessionError } from './errors.js';
import { MAX_DATE_MS, MAX_TIMER_MS } from './limits.js';
import { DEFAULT_MAX_SESSIONS_PER_USER, maxSessionsPerUserOption } from './per-user.js';
import type { BaseStoreOptions } from './store.js';
import { OperationDeadlines } from './timeout.js';
import {
  assertOptionsObject,
  DEFAULT_EXPIRED_RETENTION_MS,
  DEFAULT_OPERATION_TIMEOUT_MS,
  durationOption,
  type RecordRules,
  resolveRecordRules,
} from './validate.js';

/**
 * Every option name of an options type, each mapped to `true`. Typing the list a store
 * passes to {@link rejectUnknownOptions} as `KnownOptions<MyStoreOptions>` makes the
 * compiler report an option that the type has and the list lacks (or the reverse).
 */
export type KnownOptions<T> = { readonly [K in keyof Required<T>]: true };

/**
 * Throws `INVALID` naming the first own option of `options` that is not in `known`, with
 * the closest known name when there is one:
 * `unknown option maxSession: did you mean maxSessions?`. A misspelled option would
 * otherwise be ignored silently and its default used. `path` prefixes the names of a
 * nested options object, for example `encrypt.`.
 */
export function rejectUnknownOptions(
  store: string,
  options: object,
  known: Readonly<Record<string, unknown>>,
  path = '',
  operation = 'constructor',
): void {
  const names = Object.keys(known);
  for (const key of Object.keys(options)) {
    if (Object.hasOwn(known, key)) continue;
    const near = closestName(key, names);
    const hint =
      near === undefined ? `known options: ${names.map((n) => path + n).join(', ')}` : `did you mean ${path}${near}?`;
    throw new SessionError('INVALID', `unknown option ${path}${key}: ${hint}`, {
      store,
      operation,
      field: path + key,
    });
  }
}

/**
 * The known name closest to `name`: the smallest edit distance (insertions, deletions,
 * substitutions and swaps of adjacent letters, ignoring case), when it is small for the
 * length of the names, or a known name that starts with `name` (`operationTimeout` for
 * `operationTimeoutMs`). `undefined` when nothing is close.
 */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const c = candidate.toLowerCase();
    const d = editDistance(lower, c);
    const limit = Math.max(2, Math.floor(Math.min(lower.length, c.length) / 3));
    const prefix = lower.length >= 4 && (c.startsWith(lower) || lower.startsWith(c));
    if ((d <= limit || prefix) && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  // Option names are short; guard against a pathological key anyway.
  if (a.length > 200 || b.length > 200) return Math.abs(a.length - b.length) + 200;
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row = new Array<number>(b.length + 1).fill(0);
    row[0] = i;
    rows.push(row);
  }
  const first = rows[0] as number[];
  for (let j = 0; j <= b.length; j++) first[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i] as number[];
    const prev = rows[i - 1] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
      row[j] = d;
    }
  }
  return (rows[a.length] as number[])[b.length] as number;
}

/** Which of the common options a store takes besides `clock`, `maxLifetimeMs` and `maxRecordBytes`. */
export interface CommonOptionKinds {
  /** Talks to a server: takes `operationTimeoutMs` and gets {@link CommonOptions.deadlines}. */
  server?: boolean;
  /** Its backend drops expired data by itself: takes `expiredRetentionMs`. */
  backendExpires?: boolean;
  /** Bounds each user's sessions: takes `maxSessionsPerUser`. */
  perUser?: boolean;
}

/** The common options of one store, each read and checked once by {@link readCommonOptions}. */
export interface CommonOptions<T> {
  /** The options object itself, for the store's own options. */
  readonly options: T & Record<string, unknown>;
  /** `clock`, `maxLifetimeMs` and `maxRecordBytes`, for every validation helper. */
  readonly rules: RecordRules;
  /** `operationTimeoutMs` (1 to {@link MAX_TIMER_MS}, default 5000); the default when not `server`. */
  readonly operationTimeoutMs: number;
  /** `server` stores only: one deadline timer for every operation, at `operationTimeoutMs`. */
  readonly deadlines: OperationDeadlines | undefined;
  /** `expiredRetentionMs` (0 to {@link MAX_DATE_MS}, default one hour); the default when not `backendExpires`. */
  readonly expiredRetentionMs: number;
  /** `maxSessionsPerUser` (1 to 1,000,000, default 1000); the default when not `perUser`. */
  readonly maxSessionsPerUser: number;
}

/**
 * The opening of every store constructor, in one call: checks that `options` is an
 * object, rejects unknown option names (with the closest known name), and reads the
 * common options with one rule each. Throws `INVALID` naming the first bad option.
 *
 * @example
 * constructor(options: MyStoreOptions) {
 *   const common = readCommonOptions(STORE, options, KNOWN_OPTIONS, { server: true, perUser: true });
 *   this.#rules = common.rules;
 *   this.#deadlines = common.deadlines!;
 *   this.#client = clientOption(common.options.client); // the store's own options
 * }
 */
export function readCommonOptions<T extends object>(
  store: string,
  options: unknown,
  known: KnownOptions<T>,
  kinds: CommonOptionKinds = {},
): CommonOptions<T> {
  assertOptionsObject(store, options);
  rejectUnknownOptions(store, options, known);
  const rules = resolveRecordRules(store, options as BaseStoreOptions);
  const operationTimeoutMs = kinds.server
    ? timerOption(store, 'operationTimeoutMs', options.operationTimeoutMs, DEFAULT_OPERATION_TIMEOUT_MS)
    : DEFAULT_OPERATION_TIMEOUT_MS;
  const expiredRetentionMs = kinds.backendExpires
    ? durationOption(store, 'expiredRetentionMs', options.expiredRetentionMs, DEFAULT_EXPIRED_RETENTION_MS, {
        min: 0,
        max: MAX_DATE_MS,
      })
    : DEFAULT_EXPIRED_RETENTION_MS;
  const maxSessionsPerUser = kinds.perUser
    ? maxSessionsPerUserOption(store, options.maxSessionsPerUser)
    : DEFAULT_MAX_SESSIONS_PER_USER;
  return {
    options: options as T & Record<string, unknown>,
    rules,
    operationTimeoutMs,
    deadlines: kinds.server ? new OperationDeadlines(operationTimeoutMs, store) : undefined,
    expiredRetentionMs,
    maxSessionsPerUser,
  };
}

/**
 * Reads an integer millisecond option that arms a timer (a timeout, an interval):
 * `undefined` gives `fallback`; anything else must be an integer from 1 to
 * {@link MAX_TIMER_MS} (throws `INVALID` naming the option).
 */
export function timerOption(store: string, option: string, value: unknown, fallback: number): number {
  return durationOption(store, option, value, fallback, { min: 1, max: MAX_TIMER_MS });
}
