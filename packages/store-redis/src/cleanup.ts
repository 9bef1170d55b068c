/**
 * cleanupExpired's walk: SCANs the index keys (on Cluster, on every master) in pages and
 * cleans each with one CLEANUP script call per batch of entries, dropping the Cluster
 * pointers of the records it removes.
 */
import type { Cluster, Redis } from 'ioredis';
import type { KeyLayout } from './keys.js';
import { dropPointers } from './pointers.js';
import type { ScriptRunner } from './runner.js';
import { CLEANUP } from './scripts/index.js';

const OPERATION = 'cleanupExpired';
/** Index entries one CLEANUP call handles. */
const CLEANUP_BATCH = 256;
/** The COUNT hint of each SCAN page. */
const SCAN_COUNT = 512;

/**
 * Removes what expired more than `retentionMs` before `now` under `keys`' prefix; resolves
 * the count of records removed. Each backend call is bounded by operationTimeoutMs.
 */
export async function cleanupIndexes(
  runner: ScriptRunner,
  keys: KeyLayout,
  now: number,
  retentionMs: number,
): Promise<number> {
  const nodes: Redis[] = runner.cluster ? (runner.client as Cluster).nodes('master') : [runner.client as Redis];
  const pattern = keys.indexPattern();
  let removed = 0;
  let failed = false;
  const cleanKey = async (ik: string): Promise<void> => {
    let offset = 0;
    while (!failed) {
      const reply = await runner.timed(
        OPERATION,
        runner.script(OPERATION, CLEANUP, [ik], [now, retentionMs, CLEANUP_BATCH, offset]),
      );
      if (!Array.isArray(reply) || reply.length < 3) throw runner.unexpected(OPERATION, reply);
      removed += Number(reply[0]);
      if (reply.length > 3) await runner.timed(OPERATION, dropPointers(runner, OPERATION, reply, 3));
      if (Number(reply[1]) >= CLEANUP_BATCH) continue;
      if (Number(reply[2]) < 0) return;
      offset = Number(reply[2]);
    }
  };
  for (const node of nodes) {
    let cursor = '0';
    do {
      if (node.status !== 'ready') {
        // The caller's own Redis client is theirs to connect; Cluster nodes are ioredis's.
        if (!runner.cluster) throw runner.notReady(OPERATION, node);
        await runner.readyNode(OPERATION, node);
      }
      const page = await runner.timed(OPERATION, node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT));
      cursor = page[0];
      try {
        await Promise.all(page[1].map(cleanKey));
      } catch (error) {
        failed = true; // the other keys of this page stop after their current batch
        throw error;
      }
    } while (cursor !== '0');
  }
  return removed;
}
