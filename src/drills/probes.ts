import { readFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';

// Checks that a fault really landed (chaos-mesh#4948: a fault that silently did not apply makes a drill
// "pass" for nothing): the port refuses connections, the process is stopped.

/** Resolves true when nothing accepts TCP connections at host:port (connection refused). */
export function portClosed(host: string, port: number, timeoutMs = 1500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (closed: boolean) => {
      s.destroy();
      resolve(closed);
    };
    s.setTimeout(timeoutMs, () => done(false)); // accepted into a backlog of a stopped process counts as open
    s.once('connect', () => done(false));
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED'));
  });
}

export function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : u.protocol.startsWith('postgres') ? 5432 : 80)) };
}

/** The one-letter state of /proc/PID/stat (T: stopped), or undefined when there is no such process. */
export async function procState(pid: number): Promise<string | undefined> {
  try {
    const s = await readFile(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** Parses the scripts' status lines ("I port=P pid=PID state=S", or "I pid=PID state=S"). */
export function parseStatus(out: string): Map<number, { pid: number | undefined; state: string }> {
  const m = new Map<number, { pid: number | undefined; state: string }>();
  for (const line of out.split('\n')) {
    const r = /^(\d+)\s.*pid=(\S+)\s+state=(\S+)/.exec(line.trim());
    if (r) m.set(Number(r[1]), { pid: r[2] === '-' ? undefined : Number(r[2]), state: r[3]! });
  }
  return m;
}

/** A free TCP port on 127.0.0.1 (for a Toxiproxy listener). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** Polls `check` until it returns a string (evidence) or the deadline passes (then undefined). */
export async function within(ms: number, check: () => Promise<string | undefined>): Promise<string | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await check();
    if (r !== undefined || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 100));
  }
}
