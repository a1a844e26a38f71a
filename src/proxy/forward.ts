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

/** How one attempt talks to the request it belongs to (several attempts may race: hedging). */
export interface AttemptHooks {
  /** The request is going onto a socket; `abort` ends the attempt (rescue, client gone, lost race). */
  started(abort: (err: Error) => void): void;
  /** The upstream's response started (status line and headers in). */
  responseStarted(): void;
  /** True: discard this answer, a retry will follow. Asked before any of it reaches the client. */
  retryStatus(status: number): boolean;
  /** Asked once, right before the first byte goes to the client: false when another attempt already answered. */
  commit(): boolean;
}

export type AttemptOutcome =
  /** The upstream's response went to the client (completely, or `error` broke it off midway). */
  | { kind: 'committed'; status: number; error?: Error }
  /** Nothing reached the client; the request may go elsewhere if policy allows. */
  | { kind: 'failed'; failure: AttemptFailure; error?: Error };

/** Thrown into an attempt that lost the race to another attempt of the same request. */
export const LOST = Object.assign(new Error('another attempt answered first'), { code: 'SHA_PROXY_ATTEMPT_LOST' });

/**
 * One attempt against one upstream, through undici's dispatcher API: the response goes from the upstream
 * socket into the client response with no intermediate Readable, which the baselines show is about twice
 * as fast as undici.request or reply-from.
 */
export function forward(up: Upstream, req: ForwardRequest, res: ServerResponse, hooks: AttemptHooks): Promise<AttemptOutcome> {
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
    // Another attempt already answered: this one ends here, and nothing of it reaches the client.
    const lose = (controller: Dispatcher.DispatchController) => {
      discard = true;
      held = undefined;
      controller.abort(LOST);
    };

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(controller) {
        sent = true;
        hooks.started((err) => controller.abort(err));
      },
      onResponseStart(controller, statusCode, headers) {
        status = statusCode;
        hooks.responseStarted();
        if (hooks.retryStatus(statusCode)) {
          discard = true;
        } else if (req.holdResponseBytes > 0) {
          held = { headers, chunks: [], size: 0 };
        } else if (hooks.commit()) {
          committed = true;
          res.writeHead(statusCode, clientResponseHeaders(headers));
        } else {
          lose(controller);
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
          if (!hooks.commit()) {
            lose(controller);
            return;
          }
          committed = true;
          res.writeHead(status, clientResponseHeaders(held.headers));
          const chunks = held.chunks;
          held = undefined;
          for (const c of chunks) write(controller, c);
        }
      },
      onResponseEnd() {
        if (discard) {
          resolve({ kind: 'failed', failure: { kind: 'status', status } });
          return;
        }
        if (held !== undefined) {
          if (!hooks.commit()) {
            resolve({ kind: 'failed', failure: { kind: 'maybe-received', code: LOST.code }, error: LOST });
            return;
          }
          res.writeHead(status, clientResponseHeaders(held.headers));
          res.end(held.chunks.length === 1 ? held.chunks[0] : Buffer.concat(held.chunks, held.size));
        } else {
          res.end();
        }
        resolve({ kind: 'committed', status });
      },
      onResponseError(_controller, error) {
        res.off('drain', onDrain);
        if (committed) {
          // The status line already went out: the only honest signal left is to break the client connection.
          res.destroy(error);
          resolve({ kind: 'committed', status, error });
        } else if (discard && error !== LOST) {
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
