import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { ErrorCode } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import { listenOn } from './listen.ts';

export interface AdminView {
  /** Ready: has a live set to route to (or runs no router) and is not draining. */
  ready(): { ready: boolean; reasons: string[] };
  replicas(): unknown;
  /** Starts the drain-and-exit sequence; returns at once. */
  drain(): void;
  /** Who leads the election (absent when the elector role is off). */
  leader?(): Promise<unknown>;
}

export interface AdminOptions {
  readonly host: string;
  readonly port: number;
  readonly drainToken?: string;
  /** Told of every refused admin request (a drain attempt without the right token is worth a log line). */
  readonly onRefused?: (code: ErrorCode, remote: string | undefined) => void;
}

/**
 * The admin listener: its own port, loopback by default, so probes and scrapes never compete with (or are
 * exposed like) user traffic.
 */
export class AdminServer {
  readonly #app: FastifyInstance;
  readonly #opts: AdminOptions;
  #address: { host: string; port: number } | undefined;

  constructor(view: AdminView, metrics: Metrics, opts: AdminOptions) {
    this.#opts = opts;
    this.#app = Fastify({ logger: false, bodyLimit: 1024 });
    this.#app.get('/healthz', (_req, reply) => reply.send({ ok: true }));
    this.#app.get('/readyz', async (_req, reply) => {
      const r = view.ready();
      return reply.code(r.ready ? 200 : 503).send(r);
    });
    this.#app.get('/replicas', (_req, reply) => reply.send(view.replicas()));
    this.#app.get('/leader', async (_req, reply) => {
      if (view.leader === undefined) return reply.code(404).send({ error: 'elector role is off on this sidecar' });
      try {
        return reply.send(await view.leader());
      } catch (err) {
        return reply.code(503).send({ error: (err as { code?: string }).code ?? 'SHA_ZK_ERROR', message: 'cannot read the election from ZooKeeper' });
      }
    });
    this.#app.get('/metrics', async (_req, reply) => {
      const body = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(body);
    });
    this.#app.post('/drain', (req, reply) => {
      if (opts.drainToken === undefined) {
        opts.onRefused?.(ErrorCode.ADMIN_DRAIN_DISABLED, req.ip);
        return reply.code(403).send({ error: ErrorCode.ADMIN_DRAIN_DISABLED, message: 'set admin.drainToken to enable POST /drain' });
      }
      if (!tokenMatches(req.headers.authorization, opts.drainToken)) {
        opts.onRefused?.(ErrorCode.ADMIN_UNAUTHORIZED, req.ip);
        return reply.code(401).send({ error: ErrorCode.ADMIN_UNAUTHORIZED, message: 'a valid bearer token is required' });
      }
      view.drain();
      return reply.code(202).send({ draining: true });
    });
  }

  get address(): { host: string; port: number } {
    if (this.#address === undefined) throw new Error('admin server not started');
    return this.#address;
  }

  async start(): Promise<void> {
    if (this.#address !== undefined) return;
    this.#address = await listenOn(this.#app, this.#opts.host, this.#opts.port, 'admin server');
  }

  async close(): Promise<void> {
    await this.#app.close();
  }
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.startsWith('Bearer ') ? header.slice(7) : '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}
