// The per-(tenant, user) index value: which session ids the user has, with each one's
// expiresAt and createdAt (ms). Text: a version line, then one
// `<expiresAtMs>\t<createdAtMs>\t<id>` line per session (ids hold no control characters,
// so neither tab nor newline can occur in them).
import { corrupt } from '@sessionkit/core';

const VERSION = '2';

/** One index entry: the session's expiresAt and createdAt (ms). */
export interface Entry {
  exp: number;
  created: number;
}

export type IndexEntries = Map<string, Entry>;

/** What a session's index entry should say, read from its record: its entry, or null for "drop it". */
export type EntryStates = Map<string, Entry | null>;

export function parseIndex(text: string, store: string): IndexEntries {
  const entries: IndexEntries = new Map();
  const lines = text.split('\n');
  if (lines[0] !== VERSION) throw corrupt(store, 'decode', 'unknown user index format');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line === '') continue;
    const tab1 = line.indexOf('\t');
    const tab2 = tab1 > 0 ? line.indexOf('\t', tab1 + 1) : -1;
    const exp = tab1 > 0 ? Number(line.slice(0, tab1)) : Number.NaN;
    const created = tab2 > tab1 + 1 ? Number(line.slice(tab1 + 1, tab2)) : Number.NaN;
    const id = tab2 > 0 ? line.slice(tab2 + 1) : '';
    if (!Number.isSafeInteger(exp) || !Number.isSafeInteger(created) || id === '') {
      throw corrupt(store, 'decode', `bad user index line ${i}`);
    }
    entries.set(id, { exp, created });
  }
  return entries;
}

export function serializeIndex(entries: IndexEntries): string {
  let text = VERSION;
  for (const [id, e] of entries) text += `\n${e.exp}\t${e.created}\t${id}`;
  return text;
}

/** The latest expiresAt in the index (or -Infinity when empty). */
export function latestExpiry(entries: IndexEntries): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const e of entries.values()) if (e.exp > max) max = e.exp;
  return max;
}

/**
 * Sets each known entry to max(known, present): a record just created is in the index
 * with at least its own expiresAt. Ids whose record was read after the snapshot
 * (`states`) are left to that read.
 */
export function mergeKnown(
  entries: IndexEntries,
  known: ReadonlyMap<string, Entry>,
  states: EntryStates | undefined,
): void {
  for (const [id, e] of known) {
    if (states?.has(id)) continue;
    const present = entries.get(id);
    entries.set(id, present === undefined ? e : { exp: Math.max(present.exp, e.exp), created: e.created });
  }
}

/** Whether two entries say the same (both absent counts as the same). */
export function sameEntry(a: Entry | null | undefined, b: Entry | null | undefined): boolean {
  if (a == null || b == null) return a == null && b == null;
  return a.exp === b.exp && a.created === b.created;
}

/**
 * Applies maxSessionsPerUser to `entries` as if the sessions in `fresh` (ids, in the
 * order they were created; all present in `entries`) had been created one after
 * another: each one, once in, removes the other sessions that expire soonest (ties:
 * earliest createdAt, then smallest id) until the user holds `max` of them. A session is
 * never removed by its own create. Returns the ids removed.
 */
export function applyBound(entries: IndexEntries, fresh: readonly string[], max: number): string[] {
  if (entries.size <= max) return [];
  const pending = new Map<string, Entry>();
  for (const id of fresh) {
    const e = entries.get(id);
    if (e !== undefined) {
      pending.set(id, e);
      entries.delete(id);
    }
  }
  const removed: string[] = [];
  const evictOne = (keep: string | undefined) => {
    let victim: string | undefined;
    let worst: Entry | undefined;
    for (const [id, e] of entries) {
      if (id === keep) continue;
      if (
        worst === undefined ||
        e.exp < worst.exp ||
        (e.exp === worst.exp && (e.created < worst.created || (e.created === worst.created && id < (victim as string))))
      ) {
        victim = id;
        worst = e;
      }
    }
    if (victim === undefined) return false;
    entries.delete(victim);
    removed.push(victim);
    return true;
  };
  // Sessions already past the bound before these creates stay as they are until one of them comes in.
  for (const [id, e] of pending) {
    entries.set(id, e);
    while (entries.size > max) if (!evictOne(id)) break;
  }
  return removed;
}
