import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** How the fake answers GET /health: a real Superset says 200 "OK". */
export type HealthMode = 'ok' | 'error500' | 'hang' | 'wrong-body' | 'reset';

/**
 * A small programmable stand-in for a Superset replica's /health, on 127.0.0.1, for injecting faults into
 * the health checks. The end-to-end suite runs against real Superset; this only makes faults repeatable.
 */
export class FakeSuperset {
  mode: HealthMode = 'ok';
  healthRequests = 0;
  lastHeaders: IncomingMessage['headers'] = {};
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #hung: ServerResponse[] = [];

  constructor() {
    this.#server = createServer((req, res) => this.#handle(req, res));
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  async start(port = 0): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => resolve());
    });
    return this.url;
  }

  get url(): string {
    const addr = this.#server.address();
    if (addr === null || typeof addr === 'string') throw new Error('not listening');
    return `http://127.0.0.1:${addr.port}`;
  }

  async close(): Promise<void> {
    for (const res of this.#hung) res.destroy();
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.url !== '/health') {
      res.writeHead(404).end('not found');
      return;
    }
    this.healthRequests++;
    this.lastHeaders = req.headers;
    switch (this.mode) {
      case 'ok':
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('OK');
        return;
      case 'error500':
        res.writeHead(500, { 'content-type': 'text/html' }).end('<h1>Internal Server Error</h1>');
        return;
      case 'wrong-body':
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
        return;
      case 'hang':
        this.#hung.push(res);
        return;
      case 'reset':
        req.socket.destroy();
        return;
    }
  }
}
