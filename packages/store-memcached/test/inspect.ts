// Reads what the store left on a memcached server, over the text protocol (tests only).
import net from 'node:net';

function command(server: string, line: string, done: (text: string) => boolean): Promise<string> {
  const [host, port] = server.split(':');
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port: Number(port) });
    let text = '';
    socket.setEncoding('latin1');
    socket.on('connect', () => socket.write(`${line}\r\n`));
    socket.on('data', (chunk) => {
      text += chunk;
      if (done(text)) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', reject);
  });
}

export interface DumpedKey {
  key: string;
  /** Absolute Unix time in seconds, or -1 for "never". */
  exp: number;
}

/** Every key on the server (memcached's `lru_crawler metadump all`). */
export async function dumpKeys(server: string): Promise<DumpedKey[]> {
  const text = await command(server, 'lru_crawler metadump all', (t) =>
    /(^|\n)(END|ERROR[^\n]*|BUSY[^\n]*)\r\n$/.test(t),
  );
  if (!/(^|\n)END\r\n$/.test(text)) throw new Error(`metadump failed: ${text.slice(-200)}`);
  const keys: DumpedKey[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^key=(\S+) exp=(-?\d+) /.exec(line);
    if (m) keys.push({ key: decodeURIComponent(m[1] as string), exp: Number(m[2]) });
  }
  return keys;
}

/** Seconds left before `key` expires (-1: never), or null when it does not exist (`mg <key> t`). */
export async function ttlOf(server: string, key: string): Promise<number | null> {
  const text = await command(server, `mg ${key} t`, (t) => t.endsWith('\r\n'));
  if (text.startsWith('EN')) return null;
  const m = /^HD.* t(-?\d+)/.exec(text);
  if (!m) throw new Error(`unexpected mg answer: ${text}`);
  return Number(m[1]);
}
