// The stored layout of one session and its byte cost: what create and update keep of a
// record (plain values, the metadata on one flat "tape" or as its JSON text), taken in
// with core's checks, what that is accounted for against maxBytes, and the fresh record a
// read hands out.
import {
  type CheckRecordOptions,
  checkRecord,
  type JsonValue,
  type RecordRules,
  type SessionRecord,
  type TenantId,
  type ValidRecord,
} from '@sessionkit/core';
import type { Bucket } from './expiry-index.js';
import { copyKept, fresh, stringCost, Tape, takeTape, tapeCost, tapeJsonBytes, writeTape } from './tape.js';
import type { UserIndex } from './user-index.js';

/**
 * Heap bytes of one entry besides its strings and kept values: the Entry object and its
 * boxed times, its slots in the id Map, the user's heap and the expiry bucket's Set (the heap
 * test checks that the accounting stays above what is really taken).
 */
const ENTRY_OVERHEAD = 400;
/**
 * Metadata is kept as values when they cost at most twice its JSON text's length plus
 * KEPT_ALLOWANCE bytes (else as the text itself, one or two bytes a character): typical
 * metadata of up to a few KB is kept as values; large or densely nested metadata as text.
 */
const KEPT_ALLOWANCE = 2048;
/** What is kept of a record besides its id, owner and times, and its accounted bytes. */
export interface Stored {
  /** Bytes accounted for the entry (see {@link intake}). */
  cost: number;
  transactionId: string;
  factorsUsed: readonly string[];
  assuranceLevel: number;
  /** The metadata on a tape, or its JSON text when `metaIsText`. */
  meta: unknown;
  metaIsText: boolean;
}

/**
 * One stored session. The fields a read hands out are kept as plain values: strings,
 * numbers, `factorsUsed` as an array (copied on read) and the metadata in one of two
 * forms, chosen per record by what it would take on the heap (see {@link intake}): on one
 * flat array (a tape, see tape.ts) when that takes at most twice its JSON text plus
 * {@link KEPT_ALLOWANCE}, read by a copy; else as its JSON text (shapes such as
 * `[{},{},…]` that take far more as values than as text), read by a parse. Times are
 * integer ms kept as numbers (exactly what the Dates handed out will hold), so touch and
 * extend change a number in place.
 */
export class Entry {
  /** The expiry bucket holding this entry (null once removed). */
  bucket: Bucket | null = null;
  /** Its position in its owner's array of sessions (-1 once removed). */
  slot = -1;
  transactionId: string;
  factorsUsed: readonly string[];
  assuranceLevel: number;
  /** The metadata as kept values, or its JSON text when {@link metaIsText}. */
  meta: unknown;
  metaIsText: boolean;
  /** Bytes accounted for this entry (see {@link intake}). */
  cost: number;

  constructor(
    readonly id: string,
    /** The (tenant, user) index this entry belongs to. */
    readonly owner: UserIndex,
    s: Stored,
    readonly createdAt: number,
    public expiresAt: number,
    public lastActivityAt: number,
  ) {
    this.cost = s.cost;
    this.transactionId = s.transactionId;
    this.factorsUsed = s.factorsUsed;
    this.assuranceLevel = s.assuranceLevel;
    this.meta = s.meta;
    this.metaIsText = s.metaIsText;
  }

  // What core's update checks read (StoredSessionFacts).
  get userId(): string {
    return this.owner.userId;
  }
  get tenantId(): TenantId {
    return this.owner.tenantId;
  }
  get createdAtMs(): number {
    return this.createdAt;
  }
  get expiresAtMs(): number {
    return this.expiresAt;
  }

  /** Replaces the stored fields and cost (update). */
  set(s: Stored): void {
    this.cost = s.cost;
    this.transactionId = s.transactionId;
    this.factorsUsed = s.factorsUsed;
    this.assuranceLevel = s.assuranceLevel;
    this.meta = s.meta;
    this.metaIsText = s.metaIsText;
  }
}

/** What {@link intake} returns: core's checked record (its metadata not to be used) and what to keep. */
export interface Intake {
  v: ValidRecord;
  s: Stored;
}

/** What is kept of `r`, with its metadata as `meta` taking `metaCost` bytes. */
function keptOf(r: SessionRecord, meta: unknown, metaIsText: boolean, metaCost: number): Stored {
  const factorsUsed = r.factorsUsed; // core's own copy of the array, sized exactly
  let cost = ENTRY_OVERHEAD + stringCost(r.id) + stringCost(r.transactionId) + 48 + metaCost;
  for (let i = 0; i < factorsUsed.length; i++) {
    const f = factorsUsed[i] as string;
    cost += 8 + stringCost(f);
    factorsUsed[i] = fresh(f);
  }
  return {
    cost,
    transactionId: fresh(r.transactionId),
    factorsUsed,
    assuranceLevel: r.assuranceLevel,
    meta,
    metaIsText,
  };
}

/**
 * Checks a record for create or update with core's checkRecord and returns what is kept
 * of it and its accounted bytes. The metadata is written onto a tape straight from the
 * caller's value, in one walk that reads each property once, keeps to what core takes as
 * JSON, copies every long string ({@link fresh}) and bounds the JSON text's size; core
 * then checks the rest of the record with a one-character stand-in for the metadata
 * (`fast`, `output: 'shared'`) and the size check adds the bound. Anything that walk
 * does not take (not JSON, a getter that throws, a record near maxRecordBytes, metadata
 * kept as text) goes through core's own check and copy instead (`full`, `output:
 * 'copy'`), which names the problem or gives the copy to keep. When the values would take
 * more than twice the JSON text plus {@link KEPT_ALLOWANCE} (shapes such as `[{},{},…]`),
 * the metadata is kept as the text of core's copy. transactionId and factorsUsed are
 * kept as {@link fresh} copies too.
 */
export function intake(
  rules: RecordRules,
  record: unknown,
  fast: CheckRecordOptions,
  full: CheckRecordOptions,
): Intake {
  const max = rules.maxRecordBytes;
  let outcome = Tape.Foreign;
  let stand: SessionRecord | undefined;
  if (typeof record === 'object' && record !== null && !Array.isArray(record)) {
    try {
      const r = record as SessionRecord;
      outcome = writeTape(r.metadata, max, KEPT_ALLOWANCE);
      if (outcome === Tape.Kept) {
        stand = {
          id: r.id,
          userId: r.userId,
          tenantId: r.tenantId,
          transactionId: r.transactionId,
          factorsUsed: r.factorsUsed,
          assuranceLevel: r.assuranceLevel,
          metadata: 0, // one byte of JSON: at most what any metadata takes
          createdAt: r.createdAt,
          expiresAt: r.expiresAt,
          lastActivityAt: r.lastActivityAt,
        };
      }
    } catch {
      outcome = Tape.Foreign; // a getter threw: core's check reads it again and reports it
    }
  }
  if (stand !== undefined) {
    const v = checkRecord(rules, stand, fast);
    // v.bytes is exact, with one byte for the stand-in: add the metadata's bound.
    if (v.bytes - 1 + tapeJsonBytes() <= max) return { v, s: keptOf(v.record, takeTape(), false, tapeCost()) };
    outcome = Tape.Foreign; // near the limit: core measures it exactly
  }
  const v = checkRecord(rules, record, full);
  const r = v.record;
  if (outcome !== Tape.Text) outcome = writeTape(r.metadata, max, KEPT_ALLOWANCE);
  if (outcome === Tape.Kept) return { v, s: keptOf(r, takeTape(), false, tapeCost()) };
  const text = JSON.stringify(r.metadata); // one new flat string
  return { v, s: keptOf(r, text, true, stringCost(text)) };
}

/** The session as a fresh record (nothing in it shared with the store or another read). */
export function toRecord(e: Entry): SessionRecord {
  return {
    id: e.id,
    userId: e.owner.userId,
    tenantId: e.owner.tenantId,
    transactionId: e.transactionId,
    factorsUsed: e.factorsUsed.slice(),
    assuranceLevel: e.assuranceLevel,
    metadata: e.metaIsText ? (JSON.parse(e.meta as string) as JsonValue) : copyKept(e.meta), // a fresh copy for every read
    createdAt: new Date(e.createdAt),
    expiresAt: new Date(e.expiresAt),
    lastActivityAt: new Date(e.lastActivityAt),
  };
}
