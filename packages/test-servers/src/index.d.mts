export interface TestServer {
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  /** SIGSTOP: the server hangs (connections stay open, nothing answers). */
  pause(): boolean;
  /** SIGCONT. */
  resume(): boolean;
  /** SIGKILL and wait for the process to exit. */
  kill(): Promise<void>;
  /** Start again on the same port (and, for PostgreSQL, the same data). */
  restart(): Promise<void>;
  /** Stop for good and remove its files. */
  stop(): Promise<void>;
}
export interface RedisServer extends TestServer {
  readonly url: string;
}
export interface RedisCluster {
  readonly nodes: { host: string; port: number }[];
  readonly servers: RedisServer[];
  stop(): Promise<void>;
}
export interface MemcachedServer extends TestServer {
  /** `host:port` */
  readonly server: string;
}
export interface PostgresServer extends TestServer {
  readonly url: string;
  readonly dataDir: string;
}
export function startRedis(options?: { port?: number; extraArgs?: string[] }): Promise<RedisServer>;
export function startRedisCluster(options?: { masters?: number }): Promise<RedisCluster>;
export function startMemcached(options?: { memoryMb?: number }): Promise<MemcachedServer>;
export function startPostgres(): Promise<PostgresServer>;
export function freePort(options?: { min?: number; max?: number }): Promise<number>;
export function sleep(ms: number): Promise<void>;
