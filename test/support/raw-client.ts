import { connect, type Socket } from 'node:net';

/** One raw HTTP/1.x exchange on its own connection: the exact bytes a client (or an attacker) writes. */
export class RawClient {
  readonly sock: Socket;
  readonly #data: Buffer[] = [];
  #closed = false;
  readonly #closedAt: Promise<number>;

  constructor(port: number) {
    this.sock = connect(port, '127.0.0.1');
    this.sock.on('data', (d: Buffer) => this.#data.push(d));
    this.sock.on('error', () => undefined);
    this.#closedAt = new Promise((resolve) =>
      this.sock.on('close', () => {
        this.#closed = true;
        resolve(Date.now());
      }),
    );
  }

  write(bytes: string | Buffer): void {
    if (!this.sock.destroyed) this.sock.write(bytes);
  }

  /** Everything received so far, as latin1 (byte for byte). */
  get text(): string {
    return Buffer.concat(this.#data).toString('latin1');
  }

  /** Status lines received so far, in order ("HTTP/1.1 100 Continue", "HTTP/1.1 200 OK"). */
  get statusLines(): string[] {
    return this.text.split('\r\n').filter((l) => /^HTTP\/1\.[01] \d{3}/.test(l));
  }

  /** The JSON body of the last response (the proxy's errors and the fake upstream's answers are JSON). */
  json(): Record<string, unknown> {
    const t = this.text;
    return JSON.parse(t.slice(t.lastIndexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Resolves with the time the server closed the connection, or rejects after `ms`. */
  closedWithin(ms: number): Promise<number> {
    return Promise.race([this.#closedAt, new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`connection still open after ${ms} ms`)), ms).unref())]);
  }

  /** Waits until the received bytes satisfy `pred` (or the connection closes, or `ms` pass). */
  async until(pred: (text: string) => boolean, ms = 5_000): Promise<string> {
    const deadline = Date.now() + ms;
    while (!pred(this.text) && !this.#closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    return this.text;
  }

  /** A complete response (headers and a Content-Length body) has arrived. */
  static complete(text: string): boolean {
    const end = text.lastIndexOf('\r\n\r\n');
    if (end < 0) return false;
    const head = text.slice(text.lastIndexOf('HTTP/1.', end), end);
    const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
    return cl !== null && text.length - (end + 4) >= Number(cl[1]);
  }

  close(): void {
    this.sock.destroy();
  }
}

/** Writes a request in one go and waits for the complete response, or for the server to close. */
export async function exchange(port: number, bytes: string | Buffer, ms = 5_000): Promise<RawClient> {
  const c = new RawClient(port);
  c.write(bytes);
  await c.until((t) => RawClient.complete(t) && !/^HTTP\/1\.1 100 /.test(t.slice(t.lastIndexOf('HTTP/1.'))), ms);
  return c;
}
