import { SessionError } from './errors.js';

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
