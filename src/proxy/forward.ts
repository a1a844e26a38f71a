import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { AttemptFailure } from '../routing/retry-policy.ts';
import type { Upstream } from '../routing/upstreams.ts';
import { clientResponseHeaders } from './headers.ts';

export interface ForwardRequest {
  readonly method: Dispatcher.HttpMethod;
  readonly path: string;
  readonly headers: string[];
  readonly body: Buffer | Readable | null;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  /**
   * Hold the response back until it is complete, up to this many body bytes (0: stream at once). While
   * held, an upstream that dies mid-response costs the client nothing: the attempt fails and can be
   * retried. Only worth it where a retry is allowed at all.
   */
  readonly holdResponseBytes: number;
}

export type AttemptOutcome =
  /** The upstream's response went to the client (completely, or `error` broke it off midway). */
  | { kind: 'committed'; status: number; error?: Error }
  /** Nothing reached the client; the request may go elsewhere if policy allows. */
  | { kind: 'failed'; failure: AttemptFailure; error?: Error };

/**
 * One attempt against one upstream, through undici's dispatcher API: the response goes from the upstream
 * socket into the client response with no intermediate Readable, which the baselines show is about twice
 * as fast as undici.request or reply-from.
 *
 * `retryStatus(status)` is asked when a response starts: true means "discard this answer, I will retry",
 * decided before any byte goes to the client.
 */
export function forward(
  up: Upstream,
  req: ForwardRequest,
  res: ServerResponse,
  retryStatus: (status: number) => boolean,
  onController: (abort: ((err: Error) => void) | undefined) => void,
): Promise<AttemptOutcome> {
  return new Promise<AttemptOutcome>((resolve) => {
    let sent = false; // the request started going onto a socket
    let status = 0;
    let discard = false;
    let committed = false; // the client has been sent the status line
    let held: { headers: IncomingHttpHeaders; chunks: Buffer[]; size: number } | undefined;
    let paused: Dispatcher.DispatchController | undefined;
    const onDrain = () => {
      const c = paused;
      paused = undefined;
      c?.resume();
    };
    const write = (controller: Dispatcher.DispatchController, chunk: Buffer) => {
      if (!res.write(chunk)) {
        paused = controller;
        controller.pause();
        res.once('drain', onDrain);
      }
    };

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(controller) {
        sent = true;
        onController((err) => controller.abort(err));
      },
      onResponseStart(_controller, statusCode, headers) {
        status = statusCode;
        if (retryStatus(statusCode)) {
          discard = true;
        } else if (req.holdResponseBytes > 0) {
          held = { headers, chunks: [], size: 0 };
        } else {
          committed = true;
          res.writeHead(statusCode, clientResponseHeaders(headers));
        }
      },
      onResponseData(controller, chunk) {
        if (discard) return;
        if (held === undefined) {
          write(controller, chunk);
          return;
        }
        held.chunks.push(chunk);
        held.size += chunk.length;
        if (held.size > req.holdResponseBytes) {
          // Too large to hold: from here on it streams, and can no longer be retried.
          committed = true;
          res.writeHead(status, clientResponseHeaders(held.headers));
          const chunks = held.chunks;
          held = undefined;
          for (const c of chunks) write(controller, c);
        }
      },
      onResponseEnd() {
        onController(undefined);
        if (discard) {
          resolve({ kind: 'failed', failure: { kind: 'status', status } });
          return;
        }
        if (held !== undefined) {
          res.writeHead(status, clientResponseHeaders(held.headers));
          res.end(held.chunks.length === 1 ? held.chunks[0] : Buffer.concat(held.chunks, held.size));
        } else {
          res.end();
        }
        resolve({ kind: 'committed', status });
      },
      onResponseError(_controller, error) {
        onController(undefined);
        res.off('drain', onDrain);
        if (committed) {
          // The status line already went out: the only honest signal left is to break the client connection.
          res.destroy(error);
          resolve({ kind: 'committed', status, error });
        } else if (discard) {
          resolve({ kind: 'failed', failure: { kind: 'status', status }, error });
        } else {
          // Nothing went to the client (a held response counts as never started): the attempt failed.
          const code = (error as { code?: string }).code ?? error.name;
          resolve({ kind: 'failed', failure: { kind: sent ? 'maybe-received' : 'not-sent', code }, error });
        }
      },
    };

    up.pool.dispatch(
      {
        path: req.path,
        method: req.method,
        headers: req.headers,
        body: req.body,
        headersTimeout: req.headersTimeoutMs,
        bodyTimeout: req.bodyTimeoutMs,
      },
      handler,
    );
  });
}
