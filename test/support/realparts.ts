// Thin wrappers over scripts/zk.sh and scripts/pg.sh for tests that use the
// real parts (a 3-node ZooKeeper ensemble and a PostgreSQL cluster on
// 127.0.0.1). The scripts are the single source of truth; the constants here
// follow the same environment defaults (SHA_ZK_BASE_PORT, SHA_PG_PORT).
import { execFile } from 'node:child_process';
import path from 'node:path';

const SCRIPTS_DIR = path.resolve(import.meta.dirname, '..', '..', 'scripts');
const ZK_SCRIPT = path.join(SCRIPTS_DIR, 'zk.sh');
const PG_SCRIPT = path.join(SCRIPTS_DIR, 'pg.sh');
const SUPERSET_SCRIPT = path.join(SCRIPTS_DIR, 'superset.sh');
const TIMEOUT_MS = 60_000;
// A cold `superset.sh init` installs Superset from PyPI and migrates its database: minutes, not seconds.
const SUPERSET_TIMEOUT_MS = 15 * 60_000;

function envPort(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new Error(`${name} must be a TCP port, got '${raw}'`);
  }
  return n;
}

const ZK_BASE_PORT = envPort('SHA_ZK_BASE_PORT', 22181);
const PG_PORT = envPort('SHA_PG_PORT', 25432);

/** `127.0.0.1:22181,127.0.0.1:22182,127.0.0.1:22183` by default. */
export const ZK_CONNECT: string = [0, 1, 2]
  .map((i) => `127.0.0.1:${ZK_BASE_PORT + i}`)
  .join(',');

/** `postgresql://superset:superset@127.0.0.1:25432/superset` by default. */
export const PG_URL: string = `postgresql://superset:superset@127.0.0.1:${PG_PORT}/superset`;

function run(script: string, args: string[], timeoutMs = TIMEOUT_MS): Promise<string> {
  const name = path.basename(script);
  return new Promise((resolve, reject) => {
    execFile(
      script,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error) {
          const how = error.killed
            ? `killed after ${timeoutMs} ms`
            : `exit code ${String(error.code ?? 'unknown')}`;
          reject(new Error(`${name} ${args.join(' ')} failed (${how})\n${stderr.trim()}`, { cause: error }));
          return;
        }
        resolve(stdout.trim());
      },
    );
  });
}

/** Run `scripts/zk.sh ...args`; resolves to trimmed stdout. */
export async function zk(...args: string[]): Promise<string> {
  return run(ZK_SCRIPT, args);
}

/** Run `scripts/pg.sh ...args`; resolves to trimmed stdout. */
export async function pg(...args: string[]): Promise<string> {
  return run(PG_SCRIPT, args);
}

/** Run `scripts/superset.sh ...args` (real Apache Superset replicas); resolves to trimmed stdout. */
export async function superset(...args: string[]): Promise<string> {
  return run(SUPERSET_SCRIPT, args, SUPERSET_TIMEOUT_MS);
}

/** Where the scripts keep run-time state (generated Superset config, seed output, logs). */
export const RUN_DIR: string = path.resolve(process.env.SHA_RUN_DIR ?? path.join(SCRIPTS_DIR, '..', '.run'));

/** N (1..3) of the current ZooKeeper leader (waits for one, bounded). */
export async function zkLeader(): Promise<number> {
  const out = await zk('leader');
  const n = Number(out);
  if (!Number.isInteger(n) || n < 1 || n > 3) {
    throw new Error(`zk.sh leader printed '${out}', not a server number`);
  }
  return n;
}

// MariaDB (scripts/mysql.sh). Its `start` may install mariadb-server from Debian first: give it longer.
const MYSQL_SCRIPT = path.join(SCRIPTS_DIR, 'mysql.sh');
const MYSQL_INSTALL_TIMEOUT_MS = 10 * 60_000;
const MYSQL_PORT = envPort('SHA_MYSQL_PORT', 23306);

/** `mysql://superset:superset@127.0.0.1:23306/superset` by default. */
export const MYSQL_URL: string = `mysql://superset:superset@127.0.0.1:${MYSQL_PORT}/superset`;

/** Run `scripts/mysql.sh ...args` (a private MariaDB server); resolves to trimmed stdout. */
export async function mysql(...args: string[]): Promise<string> {
  return run(MYSQL_SCRIPT, args, args[0] === 'start' ? MYSQL_INSTALL_TIMEOUT_MS : TIMEOUT_MS);
}

// Redis (scripts/redis.sh): the Celery broker of the elector tests and the target of the Redis dependency check.
const REDIS_SCRIPT = path.join(SCRIPTS_DIR, 'redis.sh');
const REDIS_PORT = envPort('SHA_REDIS_PORT', 26379);

/** `redis://127.0.0.1:26379/0` by default. */
export const REDIS_URL: string = `redis://127.0.0.1:${REDIS_PORT}/0`;

/** Run `scripts/redis.sh ...args` (a private Redis server); `start` may install redis-server first. */
export async function redis(...args: string[]): Promise<string> {
  return run(REDIS_SCRIPT, args, args[0] === 'start' ? MYSQL_INSTALL_TIMEOUT_MS : TIMEOUT_MS);
}

/** Run `scripts/redis-py-overlay.sh`: the PYTHONPATH entry that lets the Superset venv's Celery use a Redis broker. */
export async function redisPyOverlay(): Promise<string> {
  return run(path.join(SCRIPTS_DIR, 'redis-py-overlay.sh'), [], 10 * 60_000);
}
