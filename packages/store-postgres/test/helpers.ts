import { randomUUID } from 'node:crypto';
import { type SessionRecord, tenantId } from '@sessionkit/core';
import { type PostgresServer, startPostgres } from '@sessionkit/test-servers';
import pg from 'pg';

export const HOUR = 3_600_000;

/** A database for a test file: DATABASE_URL when set, otherwise a throwaway server. */
export async function database(): Promise<{ url: string; stop: () => Promise<void> }> {
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv) return { url: fromEnv, stop: async () => {} };
  const server: PostgresServer = await startPostgres(); // throws (fails the test) when it cannot start
  return { url: server.url, stop: () => server.stop() };
}

/** A pool with an error listener (a server going away must not crash the test process). */
export function makePool(url: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', () => {});
  return pool;
}

/** A schema name no other test file (or run) uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
}

export function rand(): string {
  return randomUUID().slice(0, 8);
}

export function record(now: number, overrides: Partial<SessionRecord> = {}): SessionRecord {
  const r = rand();
  return {
    id: '',
    userId: `user-${r}`,
    tenantId: tenantId(`tenant-${r}`),
    transactionId: `tx-${r}`,
    factorsUsed: ['password'],
    assuranceLevel: 1,
    metadata: { r },
    createdAt: new Date(now),
    expiresAt: new Date(now + HOUR),
    lastActivityAt: new Date(now),
    ...overrides,
  };
}

/** A clock tests move by hand. */
export function manualClock(start = Math.floor(Date.now())) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
      return t;
    },
  };
}
