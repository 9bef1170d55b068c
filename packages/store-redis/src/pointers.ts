/**
 * Caller-chosen ids on Redis Cluster: such an id's record lives in its user's slot, and a
 * pointer in the id's own slot leads to it. Here: running a by-id script through the
 * pointer, claiming an id for create, and dropping the pointers of removed records.
 */
import type { KeyLayout } from './keys.js';
import type { Reply, ScriptRunner } from './runner.js';
import { CLAIM, CREATE, DROP_POINTER, type Script } from './scripts/index.js';

/** Extra margin, past operationTimeoutMs, before an unfinished claim of an id may be taken over. */
const CLAIM_LEASE_MARGIN_MS = 1000;
/** Attempts to take over old claims of one id before create answers CONFLICT. */
const CLAIM_ATTEMPTS = 3;

/** Target record key of a pointer value (`<claimed at ms> <record key>`). */
function pointerTarget(value: string): string {
  return value.slice(value.indexOf(' ') + 1);
}

function isPointerReply(reply: Reply): reply is ['P', string] {
  return Array.isArray(reply) && reply.length === 2 && reply[0] === 'P';
}

/**
 * Runs a by-id script on the id's record key; on Cluster, when the id is a caller-chosen
 * one, follows its pointer to the record in the user's slot.
 */
export function byId(
  runner: ScriptRunner,
  keys: KeyLayout,
  operation: string,
  s: Script,
  id: string,
  args: (string | number)[],
): Promise<Reply> {
  const rk = keys.record(id);
  if (!runner.cluster) return runner.script(operation, s, [rk], args);
  return runner.script(operation, s, [rk, keys.pointer(id)], args).then((reply) => {
    if (!isPointerReply(reply)) return reply;
    return runner.script(operation, s, [pointerTarget(reply[1])], args);
  });
}

/** Drops the pointers listed as (value, key) pairs in `pairs` from index `from` on. */
export function dropPointers(
  runner: ScriptRunner,
  operation: string,
  pairs: unknown[],
  from: number,
): Promise<unknown> {
  const drops: Promise<Reply>[] = [];
  for (let i = from; i + 1 < pairs.length; i += 2) {
    drops.push(runner.script(operation, DROP_POINTER, [String(pairs[i + 1])], [String(pairs[i])]));
  }
  return Promise.all(drops);
}

/**
 * create of a caller-chosen id on Cluster: claims the id with a pointer in the id's slot,
 * then writes record and index in the user's slot (CREATE with `args(deadline, pointer
 * value, pointer key)`). Answers CREATE's reply, or 'C' / 'D' from the claim.
 */
export async function createThroughPointer(
  runner: ScriptRunner,
  keys: KeyLayout,
  id: string,
  tag: string,
  ik: string,
  pxat: number,
  deadline: number,
  args: (deadline: number, pointer: string, pointerKey: string) => (string | number)[],
): Promise<Reply> {
  const target = keys.customRecord(tag, id);
  const pk = keys.pointer(id);
  const lease = runner.timeoutMs + CLAIM_LEASE_MARGIN_MS;
  let expected = '';
  for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
    const r = await runner.script('create', CLAIM, [keys.record(id), pk], [deadline, target, pxat, lease, expected]);
    if (r === 'C' || r === 'D') return r;
    if (!Array.isArray(r) || r.length !== 2) throw runner.unexpected('create', r);
    if (r[0] === 'OK') return runner.script('create', CREATE, [target, ik], args(deadline, String(r[1]), pk));
    // An old claim (older than any create that could still run): taken unless its record exists.
    const old = String(r[1]);
    if (runner.client.status !== 'ready') throw runner.notReady('create');
    if ((await runner.client.exists(pointerTarget(old))) === 1) return 'C';
    expected = old;
  }
  return 'C';
}
