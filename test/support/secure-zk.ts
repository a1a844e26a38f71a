import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { App } from '../../src/app.ts';
import { parseConfig } from '../../src/config.ts';
import { Metrics } from '../../src/metrics.ts';
import { ZkSession } from '../../src/zookeeper/session.ts';
import { memoryLogger, zkTestOptions } from './harness.ts';

// Helpers for tests of the secured coordination layer: sessions with and without the cluster's digest
// credentials, apps whose config turns authentication on, and a tiny upstream that counts what reaches it.

export const retry = { baseMs: 50, maxMs: 500 };

export function newSecret(): string {
  return randomBytes(24).toString('base64url');
}

export interface AuthSpec {
  user: string;
  secret: string;
  reads?: 'world' | 'identity';
  fixOpenAcls?: boolean;
}

/** A started session; with `auth` it authenticates like a sidecar, without it is the "bare client". */
export function session(auth?: AuthSpec, root?: string): ZkSession {
  const cfg = parseConfig({
    zookeeper: { ...zkTestOptions, ...(auth ? { auth } : {}), ...(root ? { root } : {}) },
    replica: { id: 'x', url: 'http://127.0.0.1:1' },
  });
  const s = new ZkSession({ ...cfg.zookeeper, retry });
  s.on('error', () => undefined);
  s.start();
  return s;
}

export async function connected(s: ZkSession): Promise<ZkSession> {
  const deadline = Date.now() + 10_000;
  while (s.state.kind !== 'connected') {
    if (Date.now() > deadline) throw new Error('no ZooKeeper session within 10 s');
    await new Promise((r) => setTimeout(r, 10));
  }
  return s;
}

export function secureApp(o: {
  root: string;
  id: string;
  url: string;
  auth?: AuthSpec;
  roles?: { registrar?: boolean; router?: boolean };
  proxy?: Record<string, unknown>;
  onClosed?: (code?: number) => void;
}): { app: App; lines: Record<string, unknown>[]; metrics: Metrics } {
  const { log, lines } = memoryLogger();
  const config = parseConfig({
    zookeeper: { ...zkTestOptions, root: o.root, ...(o.auth ? { auth: o.auth } : {}) },
    replica: { id: o.id, url: o.url },
    health: { intervalMs: 300, timeoutMs: 250, rise: 1, fall: 1 },
    roles: { registrar: true, router: true, ...o.roles },
    admin: { port: 0 },
    proxy: { host: '127.0.0.1', port: 0, ...o.proxy },
    shutdown: { drainTimeoutMs: 3000, drainDelayMs: 0 },
  });
  const metrics = new Metrics({ processMetrics: false });
  return { app: new App(config, log, metrics, o.onClosed), lines, metrics };
}

/** An upstream on 127.0.0.1 that answers /health "OK" and counts every other request. */
export class CountingUpstream {
  hits = 0;
  readonly #server: Server;

  constructor(name: string) {
    this.#server = createServer((req, res) => {
      if (req.url === '/health') {
        res.end('OK');
        return;
      }
      this.hits++;
      res.end(name);
    });
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return (this.#server.address() as { port: number }).port;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((r) => this.#server.close(r));
  }
}
