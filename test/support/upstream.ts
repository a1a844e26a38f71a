import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** What the fake replica does with the next requests. */
export type UpstreamMode =
  | 'ok' // 200 JSON naming this upstream
  | 'status503' // Superset's overload/gateway answer
  | 'status500'
  | 'reset-before-headers' // reads the request, then drops the connection
  | 'reset-mid-body' // sends headers and part of the body, then drops the connection
  | 'hang'; // reads the request and never answers

export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/**
 * A programmable HTTP upstream on 127.0.0.1 for injecting faults into the proxy (the end-to-end suite uses
 * real Superset). `received` records every request that reached it, to prove what was (not) replayed.
 */
export class FakeUpstream {
  readonly id: string;
  mode: UpstreamMode = 'ok';
  /** Per-path overrides of `mode`, matched on the path without query. */
  readonly pathModes = new Map<string, UpstreamMode>();
  readonly received: Received[] = [];
  /** Responses this upstream sent completely. */
  answered = 0;
  /** Delay before answering in 'ok' mode, to keep requests in flight. */
  delayMs = 0;
  /** Called for every request that reached it (the child-process wrapper reports these). */
  onReceived: ((r: Received) => void) | undefined;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #held: ServerResponse[] = [];
  #port = 0;

  constructor(id: string, opts: { keepAliveTimeoutMs?: number } = {}) {
    this.id = id;
    // Like gunicorn under Superset (--limit-request-line 0): long request lines are fine.
    this.#server = createServer({ maxHeaderSize: 1024 * 1024 }, (req, res) => this.#handle(req, res));
    if (opts.keepAliveTimeoutMs !== undefined) this.#server.keepAliveTimeout = opts.keepAliveTimeoutMs;
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      // A minimal echo protocol: accept the upgrade, then echo every byte back.
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${req.headers.upgrade}\r\nx-upstream: ${this.id}\r\n\r\n`);
      if (head.length > 0) socket.write(head);
      socket.on('data', (d) => socket.write(d));
      socket.on('error', () => socket.destroy());
    });
  }

  async start(port = 0): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => resolve());
    });
    this.#port = (this.#server.address() as { port: number }).port;
    return this;
  }

  get port(): number {
    return this.#port;
  }

  /** Connections open to this upstream right now (to prove the proxy let go of one). */
  get openConnections(): number {
    return this.#sockets.size;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  count(pred: (r: Received) => boolean): number {
    return this.received.filter(pred).length;
  }

  /** Drops every connection (as a crashed process would) and stops listening: later connects are refused. */
  async kill(): Promise<void> {
    this.#server.close();
    for (const s of this.#sockets) s.destroy();
    await new Promise((r) => setImmediate(r));
  }

  /** Answers every request held in 'hang' mode, as a replica that resumes after SIGCONT would. */
  release(): void {
    const held = this.#held.splice(0);
    for (const res of held) {
      if (res.destroyed) continue;
      const body = JSON.stringify({ upstream: this.id, released: true });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-upstream': this.id });
      res.end(body);
    }
  }

  async close(): Promise<void> {
    for (const res of this.#held) res.destroy();
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '/';
      const r = { method: req.method ?? '', url, headers: req.headers, body: Buffer.concat(chunks).toString() };
      this.received.push(r);
      this.onReceived?.(r);
      const path = url.split('?')[0]!;
      if (path === '/health' && !this.pathModes.has(path)) {
        // Like Superset: plain "OK", regardless of the mode injected into the API paths.
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('OK');
        return;
      }
      const mode = this.pathModes.get(path) ?? this.mode;
      if (mode === 'ok' && this.delayMs > 0) setTimeout(() => this.#respond(mode, req, res, path), this.delayMs);
      else this.#respond(mode, req, res, path);
    });
  }

  #respond(mode: UpstreamMode, req: IncomingMessage, res: ServerResponse, path: string): void {
    switch (mode) {
      case 'ok': {
        if (path === '/redirect') {
          res.writeHead(302, { location: '/superset/welcome/', 'set-cookie': ['session=abc; HttpOnly; Path=/', 'other=1; Path=/'] });
          res.end();
        } else {
          const body = JSON.stringify({ upstream: this.id, method: req.method, url: req.url });
          res.writeHead(200, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'set-cookie': ['session=abc; HttpOnly; Path=/', 'csrf=1; Path=/'],
            'x-upstream': this.id,
            'keep-alive': 'timeout=77',
          });
          res.end(body);
        }
        res.on('finish', () => this.answered++);
        return;
      }
      case 'status503':
      case 'status500': {
        const status = mode === 'status503' ? 503 : 500;
        res.writeHead(status, { 'content-type': 'text/html', 'x-upstream': this.id });
        res.end(`<h1>${status}</h1>`);
        return;
      }
      case 'reset-before-headers':
        req.socket.destroy();
        return;
      case 'reset-mid-body':
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000', 'x-upstream': this.id });
        res.write('{"partial":');
        setTimeout(() => req.socket.destroy(), 5);
        return;
      case 'hang':
        this.#held.push(res);
        return;
    }
  }
}
