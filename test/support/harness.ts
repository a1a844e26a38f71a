import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { App } from '../../src/app.ts';
import { parseConfig } from '../../src/config.ts';
import type { Logger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { Membership, type MembershipSnapshot } from '../../src/zookeeper/membership.ts';
import { ZkSession } from '../../src/zookeeper/session.ts';
import { ZK_CONNECT } from './realparts.ts';

/** ZooKeeper timings for tests: 4 s is the ensemble's minimum session timeout (2 × tickTime). */
export const SESSION_TIMEOUT_MS = 4000;

export const zkTestOptions = {
  connect: ZK_CONNECT,
  sessionTimeoutMs: SESSION_TIMEOUT_MS,
  connectTimeoutMs: 2000,
  operationTimeoutMs: 2000,
  probeIntervalMs: 500,
  probeTimeoutMs: 1000,
  registerJitterMs: 200,
  retryBaseMs: 50,
  retryMaxMs: 500,
};

/** A unique root per test, so tests never see each other's replicas. */
export function testRoot(): string {
  return `/sha-test/${randomUUID().slice(0, 8)}`;
}

/** A logger that keeps its JSON lines in memory, for asserting on codes. */
export function memoryLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, dest), lines };
}

/** An independent observer of the live set, over its own session: what every router would see. */
export class Watcher {
  readonly session: ZkSession;
  readonly membership: Membership;
  readonly history: { at: number; ids: string[]; stale: boolean; held: readonly string[] }[] = [];
  /** Failed reads (retried by Membership); an 'error' event without a listener would throw. */
  readonly errors: string[] = [];

  /**
   * `registerJitterMs`: the fleet's, from which the settle window is derived as the app does.
   * `connect`: a subset of the ensemble, to keep the observer off a server the test pauses.
   */
  constructor(root: string, opts: { registerJitterMs?: number; connect?: string } = {}) {
    const settleMs = SESSION_TIMEOUT_MS + (opts.registerJitterMs ?? zkTestOptions.registerJitterMs);
    this.session = new ZkSession({ ...zkTestOptions, ...(opts.connect ? { connect: opts.connect } : {}), retry: { baseMs: 50, maxMs: 500 } });
    this.membership = new Membership(this.session, { dir: `${root}/replicas`, retry: { baseMs: 50, maxMs: 500 }, settleMs });
    this.membership.on('snapshot', (s: MembershipSnapshot) =>
      this.history.push({ at: Date.now(), ids: s.replicas.map((r) => r.id), stale: s.stale, held: s.held }),
    );
    this.membership.on('error', ({ error }) => this.errors.push(error.code));
  }

  start(): this {
    this.session.start();
    this.membership.start();
    return this;
  }

  ids(): string[] {
    return this.membership.snapshot.replicas.map((r) => r.id);
  }

  /** Polls until `pred` holds on a fresh (non-stale) snapshot; returns when it held. */
  async until(pred: (ids: string[]) => boolean, timeoutMs = 15_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const s = this.membership.snapshot;
      if (!s.stale && pred(s.replicas.map((r) => r.id))) return Date.now();
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`live set never matched within ${timeoutMs} ms; it is ${JSON.stringify(this.membership.snapshot)}`);
  }

  async close(): Promise<void> {
    this.membership.close();
    await this.session.close();
  }
}

export interface TestAppOptions {
  root: string;
  id: string;
  supersetUrl: string;
  metadataDbUrl?: string;
  health?: { intervalMs: number; timeoutMs: number; rise: number; fall: number };
  roles?: { registrar?: boolean; router?: boolean };
  /** Overrides the ensemble connect string (e.g. to a subset of the servers). */
  connect?: string;
  proxy?: Record<string, unknown>;
  shutdown?: { drainDelayMs?: number; drainTimeoutMs?: number };
}

export function testApp(o: TestAppOptions): { app: App; lines: Record<string, unknown>[] } {
  const { log, lines } = memoryLogger();
  const config = parseConfig({
    zookeeper: { ...zkTestOptions, root: o.root, ...(o.connect ? { connect: o.connect } : {}) },
    replica: { id: o.id, url: o.supersetUrl },
    ...(o.metadataDbUrl ? { metadataDb: { url: o.metadataDbUrl } } : {}),
    health: o.health ?? { intervalMs: 300, timeoutMs: 250, rise: 2, fall: 2 },
    roles: { registrar: true, router: true, ...o.roles },
    admin: { port: 0 },
    proxy: { host: '127.0.0.1', port: 0, ...o.proxy },
    shutdown: { drainTimeoutMs: 3000, drainDelayMs: 0, ...o.shutdown },
  });
  return { app: new App(config, log, new Metrics({ processMetrics: false })), lines };
}
