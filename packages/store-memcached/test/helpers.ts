import { type MemcachedServer, startMemcached } from '@sessionkit/test-servers';
import memjs from 'memjs';

/** memjs logs through console by default; the tests keep it quiet. */
export const quietLogger = { log() {} };

/** A memjs client as the tests configure it: 1 s per request, no retries, quiet. */
export function makeClient(servers: string, timeoutSeconds = 1): memjs.Client {
  return memjs.Client.create(servers, { timeout: timeoutSeconds, retries: 1, logger: quietLogger });
}

export interface Servers {
  servers: string[];
  started: MemcachedServer[];
  stop(): Promise<void>;
}

/**
 * `count` memcached servers: from MEMCACHED_SERVERS when it lists enough of them,
 * otherwise started here (and stopped by `stop`). A server that cannot start fails the test.
 */
export async function memcachedServers(count: number): Promise<Servers> {
  const external = (process.env.MEMCACHED_SERVERS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (external.length >= count) return { servers: external.slice(0, count), started: [], stop: async () => {} };
  return startOwn(count);
}

/** Always starts its own servers (fault tests). */
export async function startOwn(count: number): Promise<Servers> {
  const started: MemcachedServer[] = [];
  try {
    for (let i = 0; i < count; i++) started.push(await startMemcached());
  } catch (error) {
    await Promise.all(started.map((s) => s.stop()));
    throw error;
  }
  return {
    servers: started.map((s) => s.server),
    started,
    stop: async () => {
      await Promise.all(started.map((s) => s.stop()));
    },
  };
}
