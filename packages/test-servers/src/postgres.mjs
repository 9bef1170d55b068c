// Throwaway PostgreSQL servers for tests: initdb into a temp dir, pg_ctl start on a free
// loopback port with trust auth. Works as root (runs as the postgres user) or as a user.
import { execSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  freePort,
  isRoot,
  removeDir,
  run,
  signal,
  sleep,
  tempDir,
  trackPid,
  untrackPid,
  waitForExit,
} from './util.mjs';

function binDir() {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    const newest = versions[0];
    if (newest) return path.join(root, newest, 'bin');
  }
  try {
    const dir = execSync('pg_config --bindir', { encoding: 'utf8' }).trim();
    if (existsSync(path.join(dir, 'initdb'))) return dir;
  } catch {}
  throw new Error(
    'cannot start test server: PostgreSQL server binaries (initdb, pg_ctl) are not installed. Install them with: apt-get install -y postgresql (or set DATABASE_URL)',
  );
}

/**
 * Starts PostgreSQL. Returns { url, host, port, pid, pause, resume, kill, restart, stop }.
 * `kill` SIGKILLs the postmaster (a crash); `restart` starts it again on the same data.
 */
export async function startPostgres() {
  const bin = binDir();
  const dir = tempDir('pg');
  const data = path.join(dir, 'data');
  // Below Linux's ephemeral range (32768+), so client sockets cannot take it meanwhile.
  let port = await freePort({ min: 15000, max: 30000 });
  const asPostgres = isRoot();
  const exec = (cmd, args) =>
    asPostgres
      ? run('runuser', ['-u', 'postgres', '--', path.join(bin, cmd), ...args])
      : run(path.join(bin, cmd), args);
  if (asPostgres) chownSync(dir, uidOf('postgres'), gidOf('postgres'));
  exec('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  let pid;
  const launch = async () => {
    exec('pg_ctl', [
      '-D',
      data,
      '-w',
      '-t',
      '30',
      '-l',
      path.join(dir, 'log'),
      '-o',
      `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c max_connections=200`,
      'start',
    ]);
    pid = Number(readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    trackPid(pid);
  };
  // Another process may still grab the port between freePort() and the bind: retry then.
  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (error) {
      const log = (() => {
        try {
          return readFileSync(path.join(dir, 'log'), 'utf8');
        } catch {
          return '';
        }
      })();
      if (attempt >= 5 || !/could not bind|Address already in use/.test(log)) {
        removeDir(dir);
        throw new Error(`${error.message}\nserver log:\n${log.split('\n').slice(-12).join('\n')}`);
      }
      port = await freePort({ min: 15000, max: 30000 });
    }
  }
  return {
    host: '127.0.0.1',
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dataDir: data,
    get pid() {
      return pid;
    },
    // The postmaster and every backend: stopping only the postmaster would leave open
    // connections answering (each connection is served by its own child process).
    pause: () => {
      const ok = signal(pid, 'SIGSTOP');
      for (const child of childrenOf(pid)) signal(child, 'SIGSTOP');
      return ok;
    },
    resume: () => {
      for (const child of childrenOf(pid)) signal(child, 'SIGCONT');
      return signal(pid, 'SIGCONT');
    },
    async kill() {
      signal(pid, 'SIGKILL');
      await waitForExit(pid);
      untrackPid(pid);
      // Backends notice the postmaster's death and exit; give them a moment.
      await sleep(300);
    },
    restart: launch,
    async stop() {
      for (const child of childrenOf(pid)) signal(child, 'SIGCONT');
      signal(pid, 'SIGCONT');
      try {
        exec('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        signal(pid, 'SIGKILL');
      }
      await waitForExit(pid).catch(() => {});
      untrackPid(pid);
      removeDir(dir);
    },
  };
}

/** PIDs whose parent is `parent` (PostgreSQL's backends and auxiliary processes). */
function childrenOf(parent) {
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) out.push(Number(entry));
    } catch {}
  }
  return out;
}

function uidOf(user) {
  return Number(execSync(`id -u ${user}`, { encoding: 'utf8' }).trim());
}
function gidOf(user) {
  return Number(execSync(`id -g ${user}`, { encoding: 'utf8' }).trim());
}
