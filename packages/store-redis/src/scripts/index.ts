/**
 * The Lua scripts of the store, by operation group. Every script touches keys of one hash
 * slot only (the record, the user index and the records it lists share the `{tag}` of one
 * (tenant, user); a pointer key shares the tag of its id), so they run on Redis Cluster
 * without CROSSSLOT errors.
 *
 * A record is one string laid out as ../layout.ts says (a fixed header of expiresAt,
 * lastActivityAt and createdAt, core's JSON of the record, then `\n` and the meta fields
 * separated by `\t`); the scripts template its offsets from there. touch and extend patch
 * the header in place (SETRANGE); get is one GET. The index is a sorted set of record keys
 * scored by expiresAt.
 *
 * Write scripts take a deadline (Redis time, ms) as ARGV[1] and do nothing once it has
 * come, so a write whose operation already rejected (timed out) never takes effect later.
 */
export { DELETE, DROP_POINTER, EXTEND, GET, TOUCH, UPDATE } from './by-id.js';
export { CLAIM, CREATE, SECRET } from './create.js';
export { CLEANUP, DELETE_USER, LIST } from './index-walks.js';
export type { Script } from './lua.js';
