import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { ErrorCode } from '../errors.ts';
import type { RoutingTable } from '../routing/upstreams.ts';
import { hasBody } from './body.ts';
import { guardBody, type BodyGuardOptions } from './body-guard.ts';
import { answerClientFault, clientRequestFault, mustCloseAfter } from './client-request.ts';
import { trustConnection, upstreamRequestHeaders } from './headers.ts';
import { listenOn } from './listen.ts';
import type { Proxy } from './proxy.ts';
import { trustedPeers } from './trusted-proxies.ts';

// Loaded with require, not an ESM import: the ESM namespace of node:http copies every export, and its lazy
// `WebSocket` getter then loads Node's own bundled copy of undici, which the sidecar never uses (it proxies
// with the undici from package.json): about 1 MiB of RSS.
const { STATUS_CODES } = createRequire(import.meta.url)('node:http') as { STATUS_CODES: Record<number, string | undefined> };

export interface ProxyServerOptions {
  readonly host: string;
  readonly port: number;
  /** Client keep-alive idle timeout; above the ingress's, so the ingress closes first (no reset races). */
  readonly clientKeepAliveMs: number;
  /** Request line plus headers; beyond it the client gets 431 with the proxy's JSON error. Node's default: 16 KiB. */
  readonly maxHeaderBytes?: number;
  /** CIDRs of the proxies in front (the ingress) whose X-Forwarded-* headers are believed; none by default. */
  readonly trustedProxies?: readonly string[];
  /** Request bodies that trickle are cut off with 408 (body-guard.ts). */
  readonly clientBody?: BodyGuardOptions;
}

/** RFC 9110 §7.8 lets a server ignore Upgrade: only WebSocket is proxied as an upgrade (h2c is served as HTTP/1.1). */
function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const up = req.headers.upgrade;
  return up !== undefined && /(^|,)\s*websocket\s*(,|$)/i.test(up);
}

/**
 * The public listener. Fastify owns the server's lifecycle and hands every route to the proxy hijacked, with
 * body parsing switched off so request bodies stream (or are buffered for replay) by our own rules.
 * WebSocket upgrades bypass fastify and are piped to a live replica.
 */
export class ProxyServer {
  readonly #app: FastifyInstance;
  readonly #opts: ProxyServerOptions;
  readonly #table: RoutingTable;
  readonly #proxy: Proxy;
  #draining = false;
  #address: { host: string; port: number } | undefined;
  readonly #upgraded = new Set<Duplex>();

  constructor(proxy: Proxy, table: RoutingTable, opts: ProxyServerOptions) {
    this.#opts = opts;
    this.#table = table;
    this.#proxy = proxy;
    this.#app = Fastify({
      logger: false,
      keepAliveTimeout: opts.clientKeepAliveMs,
      // Requests already on a kept-alive connection during drain are proxied, not refused: drain must not fail them.
      return503OnClosing: false,
      forceCloseConnections: 'idle',
      requestTimeout: 0,
      // Superset's URLs carry long query strings (explore form data); do not truncate or reject them here.
      routerOptions: { maxParamLength: 4096, ignoreDuplicateSlashes: false },
      // Node ≥ 24.12: a request without Content-Length or Transfer-Encoding (so, by HTTP/1.1, without a body)
      // skips the request stream's life cycle. Most proxied requests are such GETs; measured ~1 µs/request.
      http: {
        optimizeEmptyRequests: true,
        // `curl --http2` over plain HTTP asks to upgrade to h2c: ignoring that (served as HTTP/1.1) is what a
        // server without h2c must do; passing it on as an upgrade failed with 502.
        shouldUpgradeCallback: isWebSocketUpgrade,
        ...(opts.maxHeaderBytes === undefined ? {} : { maxHeaderSize: opts.maxHeaderBytes }),
      },
      clientErrorHandler: (err: Error & { code?: string }, socket: Duplex) => this.#clientError(err, socket),
    });
    const trusted = trustedPeers(opts.trustedProxies ?? []);
    if (trusted !== undefined) {
      // Decided once per connection: the per-request cost stays one WeakSet lookup in headers.ts.
      this.#app.server.on('connection', (socket: Duplex & { remoteAddress?: string }) => {
        if (trusted(socket.remoteAddress)) trustConnection(socket);
      });
    }
    const bodyGuard = opts.clientBody;
    this.#app.removeAllContentTypeParsers();
    this.#app.addContentTypeParser('*', (_req, _payload, done) => done(null));
    this.#app.route({
      method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
      url: '/*',
      handler: (request, reply) => {
        reply.hijack();
        const req = request.raw;
        const res = reply.raw;
        if (this.#draining || mustCloseAfter(req)) res.setHeader('connection', 'close');
        const fault = clientRequestFault(req);
        if (fault !== undefined) {
          answerClientFault(proxy, res, 400, ErrorCode.PROXY_BAD_REQUEST, fault.message, { reason: fault.reason }, performance.now(), true);
          return;
        }
        if (bodyGuard !== undefined && hasBody(req)) guardBody(proxy, req, res, bodyGuard, performance.now());
        void proxy.handle(req, res);
      },
    });
    this.#app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.#upgrade(req, socket, head));
  }

  get address(): { host: string; port: number } {
    if (this.#address === undefined) throw new Error('proxy server not started');
    return this.#address;
  }

  async start(): Promise<void> {
    if (this.#address !== undefined) return;
    this.#address = await listenOn(this.#app, this.#opts.host, this.#opts.port, 'proxy server');
  }

  /** From now on responses ask clients to reconnect (elsewhere); nothing is refused. */
  setDraining(): void {
    this.#draining = true;
  }

  /** Stops accepting, lets in-flight requests finish for up to `deadlineMs`, then cuts what is left. */
  async close(deadlineMs: number): Promise<void> {
    this.#draining = true;
    const timer = setTimeout(() => {
      this.#app.server.closeAllConnections();
      for (const s of this.#upgraded) s.destroy();
    }, deadlineMs);
    try {
      await this.#app.close();
    } finally {
      clearTimeout(timer);
    }
    for (const s of this.#upgraded) s.destroy();
  }

  /** Requests Node's parser refused before any route ran: answered with the proxy's JSON error and counted. */
  #clientError(err: Error & { code?: string }, socket: Duplex): void {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, code, message] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? ([431, ErrorCode.PROXY_HEADERS_TOO_LARGE, `request line and headers exceed proxy.maxHeaderBytes (${this.#opts.maxHeaderBytes ?? 16384} bytes)`] as const)
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? ([408, ErrorCode.PROXY_BAD_REQUEST, 'the request did not arrive in time'] as const)
          : ([400, ErrorCode.PROXY_BAD_REQUEST, 'malformed HTTP request'] as const);
    this.#proxy.emit('failure', code, status, { parser: err.code ?? 'unknown' });
    const body = JSON.stringify({ error: code, message });
    if (socket.writable) {
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy(err);
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const protocol = req.headers.upgrade;
    const up = this.#table.choose(undefined, Date.now());
    if (up === undefined || protocol === undefined || this.#draining) {
      // Counted and logged like any other answer the proxy makes itself.
      this.#proxy.emit('failure', ErrorCode.PROXY_NO_REPLICA, 503, { upgrade: protocol ?? null, draining: this.#draining });
      socket.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    try {
      const { headers, socket: upstream } = await up.pool.upgrade({
        path: req.url ?? '/',
        method: req.method ?? 'GET',
        headers: upstreamRequestHeaders(req),
        protocol,
      });
      let response = `HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${protocol}\r\n`;
      for (const [name, value] of Object.entries(headers)) {
        if (name === 'connection' || name === 'upgrade' || value === undefined) continue;
        for (const v of Array.isArray(value) ? value : [value]) response += `${name}: ${v}\r\n`;
      }
      socket.write(`${response}\r\n`);
      if (head.length > 0) upstream.write(head);
      this.#upgraded.add(socket);
      const done = () => {
        this.#upgraded.delete(socket);
        socket.destroy();
        upstream.destroy();
      };
      upstream.on('error', done).on('close', done);
      socket.on('close', done);
      upstream.pipe(socket);
      socket.pipe(upstream);
    } catch (err) {
      this.#proxy.emit('failure', ErrorCode.PROXY_UPSTREAM_FAILED, 502, { upgrade: protocol, replica: up.id, cause: (err as { code?: string }).code ?? String(err) });
      socket.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    }
  }
}
