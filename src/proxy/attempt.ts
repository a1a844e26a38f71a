import type { ServerResponse } from 'node:http';
import type { InFlightList } from '../routing/inflight.ts';
import type { InFlight, RescueReason, Upstream } from '../routing/upstreams.ts';
import { Forward, type AttemptOutcome, type ForwardRequest } from './forward.ts';

/** What an attempt asks of the request it belongs to. */
export interface AttemptOwner {
  /** May this attempt be taken off its replica for `reason`? Takes a retry-budget token when it may. */
  mayRescue(a: Attempt, reason: RescueReason): boolean;
  retryStatus(a: Attempt, status: number): boolean;
  commit(a: Attempt): boolean;
  responseStarted(a: Attempt): void;
}

/**
 * One try of a client request on one replica. While in flight it is listed on its upstream, so the routing
 * table can move it elsewhere when the replica fails (rescue) — the request decides whether that is safe.
 */
export class Attempt extends Forward implements InFlight {
  readonly up: Upstream;
  /** 0 for the first attempt of a request. */
  readonly index: number;
  readonly hedge: boolean;
  readonly startedAt = performance.now();
  /** Resolves to this attempt once it has ended; `result` then holds how. */
  readonly settled: Promise<this>;
  result: AttemptOutcome | undefined;
  /** Set when the attempt was aborted so the request could move to another replica. */
  rescued: RescueReason | undefined;
  /** A retryable status was discarded and its retry already holds a budget token. */
  paid = false;
  #started = false;
  #cancelled: Error | undefined;
  #settle: ((a: this) => void) | undefined;
  readonly #owner: AttemptOwner;
  // Links of its upstream's in-flight list (routing/inflight.ts).
  inflightPrev: InFlight | undefined;
  inflightNext: InFlight | undefined;
  inflightList: InFlightList<InFlight> | undefined;

  constructor(up: Upstream, index: number, hedge: boolean, req: ForwardRequest, res: ServerResponse, owner: AttemptOwner) {
    super(req, res);
    this.up = up;
    this.index = index;
    this.hedge = hedge;
    this.#owner = owner;
    this.settled = new Promise<this>((resolve) => (this.#settle = resolve));
    up.inflight.add(this);
    this.send(up.pool);
  }

  rescue(reason: RescueReason): boolean {
    // Not yet started means queued in the failed replica's pool, where undici offers no way to take it back.
    if (!this.#started || this.#cancelled !== undefined || !this.#owner.mayRescue(this, reason)) return false;
    this.rescued = reason;
    this.cancel(Object.assign(new Error(`replica ${this.up.id} failed (${reason}); moving the request`), { code: 'SHA_PROXY_RESCUED' }));
    return true;
  }

  /** Ends the attempt (client gone, another attempt answered, rescue). Before it starts, it ends as it starts. */
  cancel(err: Error): void {
    if (this.#cancelled !== undefined) return;
    this.#cancelled = err;
    this.abort(err);
  }

  get cancelled(): boolean {
    return this.#cancelled !== undefined;
  }

  // ---- Forward: the response's questions go to the request this attempt belongs to

  protected started(): void {
    this.#started = true;
    if (this.#cancelled !== undefined) this.abort(this.#cancelled);
  }

  protected responseStarted(): void {
    this.#owner.responseStarted(this);
  }

  protected retryStatus(status: number): boolean {
    return this.#owner.retryStatus(this, status);
  }

  protected commit(): boolean {
    return this.#owner.commit(this);
  }

  protected ended(outcome: AttemptOutcome): void {
    this.#started = false;
    this.up.inflight.delete(this);
    this.result = outcome;
    this.#settle?.(this);
    this.#settle = undefined;
  }
}
