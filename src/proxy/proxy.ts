import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { BackoffPolicy } from '../backoff.ts';
import { ErrorCode } from '../errors.ts';
import type { RetryBudget } from '../routing/retry-budget.ts';
import type { RetryReason } from '../routing/retry-policy.ts';
import { classifyRoute, type RouteClass } from '../routing/route-table.ts';
import type { RescueReason, RoutingTable } from '../routing/upstreams.ts';
import { NO_BODY, hasBody, readRequestBody } from './body.ts';
import { wasCutOff } from './body-guard.ts';
import { Exchange, type LastFailure } from './exchange.ts';
import type { ForwardRequest } from './forward.ts';
import { upstreamRequestHeaders } from './headers.ts';
import { LatencyWindow } from './latency-window.ts';

export interface HedgeOptions {
  /** Route classes whose requests are hedged; empty: hedging off. */
  readonly routes: readonly RouteClass[];
  /** Send the backup after this long without a response (with `percentile`: at least this long). */
  readonly delayMs: number;
  /** When set, hedge after this percentile of recent response-start latencies instead (floored at delayMs). */
  readonly percentile?: number | undefined;
}

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
  readonly hedge: HedgeOptions;
}

/** Proxy-generated error answers (their JSON body carries the code); all from the one catalogue. */
export type ProxyErrorCode = Extract<ErrorCode, `SHA_PROXY_${string}`>;

/** Where a client left: while sending its request, while waiting for the answer, or during it. */
export type AbortPhase = 'request' | 'waiting' | 'response';

export interface ProxyEvents {
  /** One attempt's result per upstream: an HTTP status, or an error code when no response came. */
  upstream: [replica: string, result: number | string];
  retry: [reason: RetryReason, replica: string, route: RouteClass];
  /** A request in flight was taken off a replica that failed, to go to another (DESIGN.md invariant 8). */
  rescued: [reason: RescueReason, replica: string, route: RouteClass];
  /** A backup request was sent to `replica` because the first had not answered in time. */
  hedge: [replica: string, route: RouteClass];
  /** The backup request answered first. */
  hedgeWon: [replica: string, route: RouteClass];
  /** The client went away; nothing is held against any replica for it (invariant 7). */
  clientAbort: [route: RouteClass, phase: AbortPhase];
  budgetExhausted: [];
  /** A client request finished; `failover` when it was answered by a later attempt. */
  done: [status: number, seconds: number, failover: boolean];
  /** The proxy answered with an error of its own. */
  failure: [code: ProxyErrorCode, status: number, details: Record<string, unknown>];
}

/** What an Exchange needs of the proxy it runs in. */
export interface ProxyCore {
  readonly table: RoutingTable;
  readonly opts: ProxyOptions;
  readonly latency: LatencyWindow;
  emit<K extends keyof ProxyEvents>(event: K, ...args: ProxyEvents[K]): boolean;
  /** Takes a retry-budget token (retries, rescues and hedges share it); counts a refusal. */
  acquire(): boolean;
  /** Spends a token even beyond the budget: rescues are never refused, but they hold back later retries. */
  spend(): void;
  hedgeDelayMs(): number;
  fail(res: ServerResponse, status: number, code: ProxyErrorCode, message: string, details: Record<string, unknown>, started: number): void;
  failAfter(res: ServerResponse, last: LastFailure, route: RouteClass, started: number, why: string, code?: ProxyErrorCode): void;
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * Forwards client requests to live replicas. Each request is an Exchange (exchange.ts): attempts, retries on
 * another replica when the failure and the route allow it (retry-policy.ts), rescue from a replica that
 * fails under it, optional hedging — all within one retry budget.
 */
export class Proxy extends EventEmitter<ProxyEvents> implements ProxyCore {
  readonly table: RoutingTable;
  readonly opts: ProxyOptions;
  readonly latency = new LatencyWindow();
  readonly #budget: RetryBudget;

  constructor(table: RoutingTable, budget: RetryBudget, opts: ProxyOptions) {
    super();
    this.table = table;
    this.#budget = budget;
    this.opts = opts;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    this.#budget.recordRequest();
    const method: Dispatcher.HttpMethod = req.method ?? 'GET';
    const path = req.url ?? '/';
    if (path[0] !== '/') {
      this.fail(res, 400, ErrorCode.PROXY_BAD_REQUEST, 'request target must be an absolute path', { path: path.slice(0, 100) }, started);
      return;
    }
    const route = classifyRoute(method, path);

    const client = { gone: false, exchange: undefined as Exchange | undefined };
    res.once('close', () => {
      if (res.writableFinished) return;
      client.gone = true;
      client.exchange?.clientGone();
    });

    let body = NO_BODY; // no await (and no promise) for the common bodiless request
    if (hasBody(req)) {
      try {
        body = await readRequestBody(req, this.opts.maxReplayBodyBytes);
      } catch {
        // Broke off while sending its body (nobody to answer), unless the body guard cut it and answered 408.
        if (!wasCutOff(res)) this.emit('clientAbort', route, 'request');
        return;
      }
    }
    if (client.gone) {
      this.emit('clientAbort', route, 'request');
      return;
    }
    const fwd: ForwardRequest = {
      method,
      path,
      headers: upstreamRequestHeaders(req),
      body: body.body,
      headersTimeoutMs: this.opts.headersTimeoutMs,
      bodyTimeoutMs: this.opts.bodyTimeoutMs,
      holdResponseBytes: route !== 'unsafe' && body.replayable ? this.opts.holdResponseBytes : 0,
    };
    client.exchange = new Exchange(this, route, body.replayable, fwd, res, started);
    return client.exchange.run();
  }

  acquire(): boolean {
    if (this.#budget.tryAcquire()) return true;
    this.emit('budgetExhausted');
    return false;
  }

  spend(): void {
    this.#budget.spend();
  }

  hedgeDelayMs(): number {
    const h = this.opts.hedge;
    if (h.percentile === undefined) return h.delayMs;
    return Math.max(h.delayMs, this.latency.percentile(h.percentile) ?? h.delayMs);
  }

  failAfter(res: ServerResponse, last: LastFailure, route: RouteClass, started: number, why: string, code?: ProxyErrorCode): void {
    const f = last.failure;
    const details = { replica: last.replica, route, why, ...(f.kind === 'status' ? { status: f.status } : { cause: f.code, phase: f.kind }) };
    if (f.kind === 'status') {
      // Only reached when the last answer was discarded for a retry that then could not happen.
      this.fail(res, f.status, code ?? ErrorCode.PROXY_UPSTREAM_FAILED, `upstream answered ${f.status}`, details, started);
    } else if (f.kind === 'maybe-received' && route === 'unsafe') {
      this.fail(res, 502, ErrorCode.PROXY_NOT_REPLAYED, 'the request may have reached Superset and is not safe to replay; it was not retried', details, started);
    } else if (TIMEOUT_CODES.has(f.code)) {
      this.fail(res, 504, code ?? ErrorCode.PROXY_UPSTREAM_TIMEOUT, 'the Superset replica did not answer in time', details, started);
    } else {
      this.fail(res, 502, code ?? ErrorCode.PROXY_UPSTREAM_FAILED, 'the Superset replica failed', details, started);
    }
  }

  fail(res: ServerResponse, status: number, code: ProxyErrorCode, message: string, details: Record<string, unknown>, started: number): void {
    this.emit('failure', code, status, details);
    this.emit('done', status, (performance.now() - started) / 1000, false);
    if (res.headersSent || res.destroyed) return;
    const body = JSON.stringify({ error: code, message, ...details });
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(body);
  }
}
