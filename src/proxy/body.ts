import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

export interface RequestBody {
  /** null: no body. Buffer: read whole (can be sent again). Readable: streamed, can be sent once. */
  readonly body: Buffer | Readable | null;
  readonly replayable: boolean;
}

export const NO_BODY: RequestBody = { body: null, replayable: true };

/** Whether the request carries a body at all; most proxied requests (GETs) do not. */
export function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

/**
 * Buffers a request body up to `limit` bytes so a failed attempt can be replayed elsewhere; a larger body is
 * streamed through and is never retried after it may have reached an upstream (DESIGN.md invariant 6).
 */
export async function readRequestBody(req: IncomingMessage, limit: number): Promise<RequestBody> {
  if (!hasBody(req)) return NO_BODY;
  const cl = req.headers['content-length'];
  if (cl !== undefined && req.headers['transfer-encoding'] === undefined && Number(cl) > limit) return { body: req, replayable: false };

  const chunks: Buffer[] = [];
  let size = 0;
  const it = req[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  for (;;) {
    const next = await it.next();
    if (next.done === true) return { body: Buffer.concat(chunks, size), replayable: true };
    chunks.push(next.value);
    size += next.value.length;
    if (size > limit) return { body: Readable.from(continueWith(chunks, it), { objectMode: false }), replayable: false };
  }
}

async function* continueWith(head: Buffer[], rest: AsyncIterator<Buffer>): AsyncIterable<Buffer> {
  yield* head;
  for (;;) {
    const next = await rest.next();
    if (next.done === true) return;
    yield next.value;
  }
}
