/**
 * Caps retries at `ratio` × requests seen in the last `windowMs`, plus `minPerSec` × window as a floor so a
 * quiet sidecar can still fail over. Superset's frontend already retries 502/503/504; without a budget each
 * layer multiplies the load on a struggling cluster.
 *
 * Counts are kept in one-second buckets in a ring, so the hot path is O(1) and allocation-free.
 */
export class RetryBudget {
  #ratio: number;
  #floor: number;
  readonly #buckets: number;
  readonly #requests: Float64Array;
  readonly #retries: Float64Array;
  readonly #now: () => number;
  #second = -1;
  #reqTotal = 0;
  #retryTotal = 0;

  constructor(opts: { ratio: number; minPerSec: number; windowMs: number }, now: () => number = Date.now) {
    this.#ratio = opts.ratio;
    this.#buckets = Math.max(1, Math.round(opts.windowMs / 1000));
    this.#floor = opts.minPerSec * this.#buckets;
    this.#requests = new Float64Array(this.#buckets);
    this.#retries = new Float64Array(this.#buckets);
    this.#now = now;
  }

  /** New ratio and floor from the shared runtime config; the window (and its counts) stay. */
  reconfigure(opts: { ratio: number; minPerSec: number }): void {
    this.#ratio = opts.ratio;
    this.#floor = opts.minPerSec * this.#buckets;
  }

  /** Counts an incoming client request. */
  recordRequest(): void {
    this.#advance();
    this.#requests[this.#second % this.#buckets]! += 1;
    this.#reqTotal += 1;
  }

  /** Takes one retry from the budget if there is room; false means: do not retry. */
  tryAcquire(): boolean {
    this.#advance();
    if (this.#retryTotal + 1 > this.#ratio * this.#reqTotal + this.#floor) return false;
    this.#retries[this.#second % this.#buckets]! += 1;
    this.#retryTotal += 1;
    return true;
  }

  /**
   * Spends one retry whether or not there is room (a rescue off a replica known to have failed: refusing it
   * would leave the request there for the whole failure). The spend still holds back the retries after it.
   */
  spend(): void {
    this.#advance();
    this.#retries[this.#second % this.#buckets]! += 1;
    this.#retryTotal += 1;
  }

  #advance(): void {
    const sec = Math.floor(this.#now() / 1000);
    if (sec === this.#second) return;
    if (this.#second < 0 || sec - this.#second >= this.#buckets) {
      this.#requests.fill(0);
      this.#retries.fill(0);
      this.#reqTotal = 0;
      this.#retryTotal = 0;
    } else {
      for (let s = this.#second + 1; s <= sec; s++) {
        const i = s % this.#buckets;
        this.#reqTotal -= this.#requests[i]!;
        this.#retryTotal -= this.#retries[i]!;
        this.#requests[i] = 0;
        this.#retries[i] = 0;
      }
    }
    this.#second = sec;
  }
}
