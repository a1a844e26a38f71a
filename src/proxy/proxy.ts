import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { backoffDelay, type BackoffPolicy } from '../backoff.ts';
import { ErrorCode } from '../errors.ts';
import type { RetryBudget } from '../routing/retry-budget.ts';
import { RETRYABLE_STATUS, retryReason, type AttemptFailure, type RetryReason } from '../routing/retry-policy.ts';
import { classifyRoute, type RouteClass } from '../routing/route-table.ts';
import type { RoutingTable } from '../routing/upstreams.ts';
import { NO_BODY, hasBody, readRequestBody } from './body.ts';
import { forward, type ForwardRequest } from './forward.ts';
import { upstreamRequestHeaders } from './headers.ts';

export interface ProxyOptions {
  readonly maxAttempts: number;
  readonly backoff: BackoffPolicy;
  readonly maxReplayBodyBytes: number;
  /** Responses to retryable requests are held until complete up to this size, so a mid-body failure retries. */
  readonly holdResponseBytes: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  /** Seconds clients are told to wait (Retry-After) when no replica is live. */
  readonly retryAfterS: number;
}

/** Proxy-generated error answers (their JSON body carries the code); all from the one catalogue. */
export type ProxyErrorCode = Extract<ErrorCode, `SHA_PROXY_${string}`>;

export interface ProxyEvents {
  /** One attempt's result per upstream: an HTTP status, or an error code when no response came. */
  upstream: [replica: string, result: number | string];
  retry: [reason: RetryReason, replica: string, route: RouteClass];
  budgetExhausted: [];
  /** A client request finished; `failover` when it was answered by a later attempt. */
  done: [status: number, seconds: number, failover: boolean];
  /** The proxy answered with an error of its own. */
  failure: [code: ProxyErrorCode, status: number, details: Record<string, unknown>];
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * Forwards one client request to a live replica, retrying on another replica when the failure and the
 * route allow it (retry-policy.ts), with full-jitter backoff, within the retry budget.
 */
export class Proxy extends EventEmitter<ProxyEvents> {
  readonly #table: RoutingTable;
  readonly #budget: RetryBudget;
  readonly #opts: ProxyOptions;

  constructor(table: RoutingTable, budget: RetryBudget, opts: ProxyOptions) {
    super();
    this.#table = table;
    this.#budget = budget;
    this.#opts = opts;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    this.#budget.recordRequest();
    const method: Dispatcher.HttpMethod = req.method ?? 'GET';
    const path = req.url ?? '/';
    if (path[0] !== '/') {
      this.#fail(res, 400, ErrorCode.PROXY_BAD_REQUEST, 'request target must be an absolute path', { path: path.slice(0, 100) }, started);
      return;
    }
    const route = classifyRoute(method, path);

    // Abort the attempt in flight if the client goes away, so the upstream stops working for nobody.
    let abortAttempt: ((err: Error) => void) | undefined;
    const setAbort = (fn: ((err: Error) => void) | undefined) => {
      abortAttempt = fn;
    };
    let clientGone = false;
    res.once('close', () => {
      if (!res.writableFinished) {
        clientGone = true;
        abortAttempt?.(new Error('client closed the connection'));
      }
    });

    let body = NO_BODY; // no await (and no promise) for the common bodiless request
    if (hasBody(req)) {
      try {
        body = await readRequestBody(req, this.#opts.maxReplayBodyBytes);
      } catch {
        return; // the client broke off while sending its body: nobody to answer
      }
    }
    const fwd: ForwardRequest = {
      method,
      path,
      headers: upstreamRequestHeaders(req),
      body: body.body,
      headersTimeoutMs: this.#opts.headersTimeoutMs,
      bodyTimeoutMs: this.#opts.bodyTimeoutMs,
      holdResponseBytes: route !== 'unsafe' && body.replayable ? this.#opts.holdResponseBytes : 0,
    };

    let tried: Set<string> | undefined;
    let last: { replica: string; failure: AttemptFailure } | undefined;
    for (let attempt = 0; ; attempt++) {
      const up = this.#table.choose(tried, Date.now());
      if (up === undefined) {
        if (last === undefined) {
          res.setHeader('retry-after', String(this.#opts.retryAfterS));
          this.#fail(res, 503, ErrorCode.PROXY_NO_REPLICA, 'no live Superset replica is known', { stale: this.#table.stale }, started);
        } else {
          this.#failAfter(res, last, route, started, 'no other replica to try');
        }
        return;
      }
      const isLast = attempt + 1 >= this.#opts.maxAttempts;
      // Decided when the upstream's answer starts, before any of it reaches the client.
      const retryStatus = (status: number): boolean =>
        !isLast &&
        !clientGone &&
        RETRYABLE_STATUS.has(status) &&
        retryReason({ kind: 'status', status }, route, body.replayable) !== undefined &&
        this.#hasOther(tried, up.id) &&
        this.#acquire();

      up.outstanding++;
      const outcome = await forward(up, fwd, res, retryStatus, setAbort);
      up.outstanding--;
      const now = Date.now();

      if (outcome.kind === 'committed') {
        this.emit('upstream', up.id, outcome.status);
        if (outcome.status >= 500) this.#table.recordFailure(up, now);
        else this.#table.recordSuccess(up, now);
        this.emit('done', outcome.status, (performance.now() - started) / 1000, attempt > 0);
        return;
      }

      const failure = outcome.failure;
      this.emit('upstream', up.id, failure.kind === 'status' ? failure.status : failure.code);
      this.#table.recordFailure(up, now);
      last = { replica: up.id, failure };
      if (clientGone) return;
      if (failure.kind !== 'status') {
        // (A retryable status already took its budget in retryStatus.)
        const reason = retryReason(failure, route, body.replayable);
        if (reason === undefined || isLast) {
          this.#failAfter(res, last, route, started, reason === undefined ? 'not safe to replay' : 'attempts exhausted');
          return;
        }
        if (!this.#hasOther(tried, up.id)) {
          this.#failAfter(res, last, route, started, 'no other replica to try');
          return;
        }
        if (!this.#acquire()) {
          this.#failAfter(res, last, route, started, 'retry budget exhausted', ErrorCode.PROXY_RETRY_BUDGET_EXHAUSTED);
          return;
        }
        this.emit('retry', reason, up.id, route);
      } else {
        this.emit('retry', `status_${failure.status}` as RetryReason, up.id, route);
      }
      (tried ??= new Set()).add(up.id);
      const delay = backoffDelay(this.#opts.backoff, attempt);
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      if (clientGone) return;
    }
  }

  /** Whether a replica other than those tried (and `current`) exists to retry on. */
  #hasOther(tried: ReadonlySet<string> | undefined, current: string): boolean {
    for (const u of this.#table.upstreams) if (u.id !== current && !tried?.has(u.id)) return true;
    return false;
  }

  #acquire(): boolean {
    if (this.#budget.tryAcquire()) return true;
    this.emit('budgetExhausted');
    return false;
  }

  #failAfter(
    res: ServerResponse,
    last: { replica: string; failure: AttemptFailure },
    route: RouteClass,
    started: number,
    why: string,
    code?: ProxyErrorCode,
  ): void {
    const f = last.failure;
    const details = { replica: last.replica, route, why, ...(f.kind === 'status' ? { status: f.status } : { cause: f.code, phase: f.kind }) };
    if (f.kind === 'status') {
      // Only reached when the last answer was discarded for a retry that then could not happen.
      this.#fail(res, f.status, code ?? ErrorCode.PROXY_UPSTREAM_FAILED, `upstream answered ${f.status}`, details, started);
    } else if (f.kind === 'maybe-received' && route === 'unsafe') {
      this.#fail(res, 502, ErrorCode.PROXY_NOT_REPLAYED, 'the request may have reached Superset and is not safe to replay; it was not retried', details, started);
    } else if (TIMEOUT_CODES.has(f.code)) {
      this.#fail(res, 504, code ?? ErrorCode.PROXY_UPSTREAM_TIMEOUT, 'the Superset replica did not answer in time', details, started);
    } else {
      this.#fail(res, 502, code ?? ErrorCode.PROXY_UPSTREAM_FAILED, 'the Superset replica failed', details, started);
    }
  }

  #fail(res: ServerResponse, status: number, code: ProxyErrorCode, message: string, details: Record<string, unknown>, started: number): void {
    this.emit('failure', code, status, details);
    this.emit('done', status, (performance.now() - started) / 1000, false);
    if (res.headersSent || res.destroyed) return;
    const body = JSON.stringify({ error: code, message, ...details });
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(body);
  }
}
