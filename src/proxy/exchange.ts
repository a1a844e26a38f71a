import type { ServerResponse } from 'node:http';
import { backoffDelay } from '../backoff.ts';
import { ErrorCode } from '../errors.ts';
import { RETRYABLE_STATUS, retryReason, type AttemptFailure, type RetryReason } from '../routing/retry-policy.ts';
import type { RouteClass } from '../routing/route-table.ts';
import type { RescueReason } from '../routing/upstreams.ts';
import { Attempt, type AttemptOwner } from './attempt.ts';
import { refuseClientFault } from './client-request.ts';
import { LOST, type ForwardRequest } from './forward.ts';
import type { ProxyCore, ProxyErrorCode } from './proxy.ts';

const CLIENT_GONE = Object.assign(new Error('client closed the connection'), { code: ErrorCode.PROXY_CLIENT_ABORTED });

type RetryDecision = { ok: true; reason: RetryReason } | { ok: false; why: string; code?: ProxyErrorCode };

export interface LastFailure {
  readonly replica: string;
  readonly failure: AttemptFailure;
}

/**
 * One client request and its attempts: the first, retries after a failure, a rescue when its replica fails
 * under it, and at most one hedge racing the first. Exactly one attempt may answer the client (commit); the
 * others are cancelled the moment it does. Unsafe requests are never rescued nor hedged (invariant 2).
 */
export class Exchange implements AttemptOwner {
  readonly #core: ProxyCore;
  readonly #route: RouteClass;
  readonly #replayable: boolean;
  readonly #fwd: ForwardRequest;
  readonly #res: ServerResponse;
  readonly #started: number;
  #tried: Set<string> | undefined;
  #active: Attempt[] = [];
  #launched = 0;
  #committed: Attempt | undefined;
  #clientGone = false;
  #hedgeDone = false; // a hedge was sent, or will not be

  constructor(core: ProxyCore, route: RouteClass, replayable: boolean, fwd: ForwardRequest, res: ServerResponse, started: number) {
    this.#core = core;
    this.#route = route;
    this.#replayable = replayable;
    this.#fwd = fwd;
    this.#res = res;
    this.#started = started;
    this.#hedgeDone = !replayable || !core.opts.hedge.routes.includes(route);
  }

  /** The client went away: stop every attempt; nothing will be recorded against the replicas. */
  clientGone(): void {
    if (this.#clientGone) return;
    this.#clientGone = true;
    for (const a of this.#active) a.cancel(CLIENT_GONE);
  }

  async run(): Promise<void> {
    const core = this.#core;
    let last: LastFailure | undefined;
    if (this.#launch(false) === undefined) {
      this.#res.setHeader('retry-after', String(core.opts.retryAfterS));
      core.fail(this.#res, 503, ErrorCode.PROXY_NO_REPLICA, 'no live Superset replica is known', { stale: core.table.stale }, this.#started);
      return;
    }
    for (;;) {
      // The common case, one attempt and no hedge timer, awaits its promise directly (no extra promise hop).
      const a = this.#active.length === 1 && this.#hedgeDone ? await this.#active[0]!.settled : await this.#next();
      if (a === undefined) {
        this.#hedge();
        continue;
      }
      this.#active.splice(this.#active.indexOf(a), 1);
      const outcome = a.result!;
      const now = Date.now();
      if (outcome.kind === 'committed') {
        core.emit('upstream', a.up.id, outcome.status);
        if (outcome.status >= 500) core.table.recordFailure(a.up, now);
        else core.table.recordSuccess(a.up, now);
        if (this.#clientGone) core.emit('clientAbort', this.#route, 'response');
        else core.emit('done', outcome.status, (performance.now() - this.#started) / 1000, a.index > 0);
        if (a.hedge) core.emit('hedgeWon', a.up.id, this.#route);
        return;
      }
      if (this.#clientGone) {
        // Invariant 7: a client that leaves is not the replica's failure.
        core.emit('clientAbort', this.#route, 'waiting');
        return;
      }
      if (a.cancelled && a.rescued === undefined) continue; // lost the race to another attempt
      if (refuseClientFault(core, this.#res, outcome, this.#started)) return; // the client's fault, not the replica's
      const failure = outcome.failure;
      if (a.rescued !== undefined) {
        core.emit('upstream', a.up.id, 'rescued');
        core.emit('rescued', a.rescued, a.up.id, this.#route);
      } else {
        core.emit('upstream', a.up.id, failure.kind === 'status' ? failure.status : failure.code);
        core.table.recordFailure(a.up, now);
      }
      last = { replica: a.up.id, failure };
      (this.#tried ??= new Set()).add(a.up.id);
      if (this.#active.length > 0) continue; // a hedge is still in flight and may yet answer

      const next = this.#retry(a, failure);
      if (!next.ok) {
        core.failAfter(this.#res, last, this.#route, this.#started, next.why, next.code);
        return;
      }
      core.emit('retry', next.reason, a.up.id, this.#route);
      // A rescue moves at once: the replica is known to have failed, there is nothing to back off from.
      const delay = next.reason === 'rescue' ? 0 : backoffDelay(core.opts.backoff, this.#launched - 1);
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      if (this.#clientGone) {
        core.emit('clientAbort', this.#route, 'waiting');
        return;
      }
      if (this.#launch(false) === undefined) {
        core.failAfter(this.#res, last, this.#route, this.#started, 'no other replica to try');
        return;
      }
    }
  }

  // ---- AttemptOwner: asked by attempts while they run

  mayRescue(a: Attempt, _reason: RescueReason): boolean {
    if (this.#clientGone || this.#committed !== undefined || this.#route === 'unsafe' || !this.#replayable) return false;
    if (this.#active.length > 1) return true; // another attempt (a hedge) goes on elsewhere: just drop this one
    if (!this.#hasRoom(a)) return false;
    // The replica is known to have failed: a request left there waits out the whole failure. So a rescue
    // is never refused by the retry budget, but it spends from it, holding back the retries that follow.
    this.#core.spend();
    return true;
  }

  retryStatus(a: Attempt, status: number): boolean {
    if (this.#clientGone || !RETRYABLE_STATUS.has(status)) return false;
    if (retryReason({ kind: 'status', status }, this.#route, this.#replayable) === undefined) return false;
    if (this.#active.length > 1) return true; // another attempt may still answer; no new request needed yet
    if (!this.#mayTryAgain(a)) return false;
    a.paid = true;
    return true;
  }

  commit(a: Attempt): boolean {
    if (this.#clientGone || this.#committed !== undefined) return false;
    this.#committed = a;
    for (const other of this.#active) if (other !== a) other.cancel(LOST);
    return true;
  }

  responseStarted(a: Attempt): void {
    const ms = performance.now() - a.startedAt;
    a.up.latency.observe(ms, Date.now());
    if (!this.#hedgeDone || a.hedge) this.#core.latency.record(ms);
  }

  // ----

  /** Room for another attempt, a replica to send it to, and a retry-budget token for it. */
  #mayTryAgain(a: Attempt): boolean {
    return this.#hasRoom(a) && this.#core.acquire();
  }

  /** Room for another attempt after `a`, and a replica other than those tried to send it to. */
  #hasRoom(a: Attempt): boolean {
    if (this.#launched >= this.#core.opts.maxAttempts) return false;
    const exclude = new Set(this.#tried);
    exclude.add(a.up.id);
    return this.#core.table.hasAlternative(exclude);
  }

  /** Whether and why the request goes to another replica after `a` failed. */
  #retry(a: Attempt, failure: AttemptFailure): RetryDecision {
    if (a.rescued !== undefined) return { ok: true, reason: 'rescue' }; // its budget token was spent in mayRescue
    const reason = retryReason(failure, this.#route, this.#replayable);
    if (reason === undefined) return { ok: false, why: 'not safe to replay' };
    if (failure.kind === 'status' && a.paid) return { ok: true, reason };
    if (this.#launched >= this.#core.opts.maxAttempts) return { ok: false, why: 'attempts exhausted' };
    if (!this.#core.table.hasAlternative(this.#tried!)) return { ok: false, why: 'no other replica to try' };
    if (!this.#core.acquire()) return { ok: false, why: 'retry budget exhausted', code: ErrorCode.PROXY_RETRY_BUDGET_EXHAUSTED };
    return { ok: true, reason };
  }

  #launch(hedge: boolean): Attempt | undefined {
    let exclude = this.#tried;
    if (hedge) {
      exclude = new Set(this.#tried);
      for (const x of this.#active) exclude.add(x.up.id);
    }
    const up = this.#core.table.choose(exclude, Date.now());
    if (up === undefined) return undefined;
    const a = new Attempt(up, this.#launched++, hedge, this.#fwd, this.#res, this);
    this.#active.push(a);
    return a;
  }

  /** The next attempt to end, or undefined when it is time to hedge first. */
  async #next(): Promise<Attempt | undefined> {
    const active = this.#active;
    const settled = active.length === 1 ? active[0]!.settled : Promise.race(active.map((x) => x.settled));
    if (this.#hedgeDone) return settled;
    const wait = this.#core.hedgeDelayMs() - (performance.now() - active[0]!.startedAt);
    let timer: NodeJS.Timeout | undefined;
    const due = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), Math.max(0, wait))));
    try {
      return await Promise.race([settled, due]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends the backup request (Finagle's backup requests, Envoy's hedging): budgeted like a retry. */
  #hedge(): void {
    this.#hedgeDone = true;
    if (this.#clientGone || this.#committed !== undefined || this.#launched >= this.#core.opts.maxAttempts) return;
    const exclude = new Set(this.#tried);
    for (const x of this.#active) exclude.add(x.up.id);
    if (!this.#core.table.hasAlternative(exclude) || !this.#core.acquire()) return;
    const a = this.#launch(true);
    if (a) this.#core.emit('hedge', a.up.id, this.#route);
  }
}
