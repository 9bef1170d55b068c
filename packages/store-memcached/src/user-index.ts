// The per-(tenant, user) index value: which session ids the user has, with each one's
// expiresAt (ms). Text: a version line, then one `<expiresAtMs>\t<id>` line per session
// (ids hold no control characters, so neither tab nor newline can occur in them).
import { SessionError } from '@sessionkit/core';

const VERSION = '1';

export type IndexEntries = Map<string, number>;

export function parseIndex(text: string, store: string): IndexEntries {
  const entries: IndexEntries = new Map();
  const lines = text.split('\n');
  if (lines[0] !== VERSION) throw corrupt(store, 'unknown index format');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line === '') continue;
    const tab = line.indexOf('\t');
    const exp = tab > 0 ? Number(line.slice(0, tab)) : Number.NaN;
    const id = line.slice(tab + 1);
    if (!Number.isSafeInteger(exp) || id === '') throw corrupt(store, `bad index line ${i}`);
    entries.set(id, exp);
  }
  return entries;
}

export function serializeIndex(entries: IndexEntries): string {
  let text = VERSION;
  for (const [id, exp] of entries) text += `\n${exp}\t${id}`;
  return text;
}

/** The latest expiresAt in the index (or -Infinity when empty). */
export function latestExpiry(entries: IndexEntries): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const exp of entries.values()) if (exp > max) max = exp;
  return max;
}

function corrupt(store: string, detail: string): SessionError {
  return new SessionError('STORAGE', `stored user index cannot be decoded: ${detail}`, { store, operation: 'decode' });
}
