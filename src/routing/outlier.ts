export interface OutlierOptions {
  /** Consecutive failures (connect errors, resets, timeouts, 5xx) that eject a replica. */
  readonly consecutiveFailures: number;
  /** First ejection lasts this long; each further one doubles it, up to maxEjectionMs. */
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
}

/**
 * Passive outlier detection for one replica. After an ejection expires the replica is routable again and
 * its next requests are the probe: a failure ejects it again for longer, a success forgets the history.
 * Whether an ejection may actually happen (the cap on ejected share) is the balancer's decision.
 */
export class OutlierState {
  readonly #opts: OutlierOptions;
  #consecutive = 0;
  #ejections = 0;
  #ejectedUntil = 0;

  constructor(opts: OutlierOptions) {
    this.#opts = opts;
  }

  isEjected(now: number): boolean {
    return now < this.#ejectedUntil;
  }

  get ejectedUntil(): number {
    return this.#ejectedUntil;
  }

  get consecutiveFailures(): number {
    return this.#consecutive;
  }

  recordSuccess(now: number): void {
    this.#consecutive = 0;
    // A success after the ejection ran out: the probe passed.
    if (this.#ejections > 0 && now >= this.#ejectedUntil) this.#ejections = 0;
  }

  /** Records a failure; returns true when it crosses the threshold and the replica should be ejected. */
  recordFailure(now: number): boolean {
    if (this.isEjected(now)) return false;
    this.#consecutive++;
    return this.#consecutive >= this.#opts.consecutiveFailures;
  }

  /** Ejects now; returns the ejection's duration. */
  eject(now: number): number {
    const ms = Math.min(this.#opts.maxEjectionMs, this.#opts.baseEjectionMs * 2 ** this.#ejections);
    this.#ejections++;
    this.#consecutive = 0;
    this.#ejectedUntil = now + ms;
    return ms;
  }
}
