/**
 * Recent response-start latencies (ms) in a fixed ring, for hedging at a percentile of what requests
 * usually take. The percentile is recomputed at most once per `refreshMs`, off the per-request path's
 * common case (a sort of at most `size` numbers).
 */
export class LatencyWindow {
  readonly #samples: Float64Array;
  #n = 0;
  #next = 0;
  #cached = 0;
  #cachedAt = -Infinity;
  readonly #refreshMs: number;

  constructor(size = 512, refreshMs = 1000) {
    this.#samples = new Float64Array(size);
    this.#refreshMs = refreshMs;
  }

  record(ms: number): void {
    this.#samples[this.#next] = ms;
    this.#next = (this.#next + 1) % this.#samples.length;
    if (this.#n < this.#samples.length) this.#n++;
  }

  /** The p-th percentile (0 < p < 100) of the recent samples; undefined until there are a few. */
  percentile(p: number, now = performance.now()): number | undefined {
    if (this.#n < 20) return undefined;
    if (now - this.#cachedAt >= this.#refreshMs) {
      const sorted = this.#samples.slice(0, this.#n).sort();
      this.#cached = sorted[Math.min(this.#n - 1, Math.floor((p / 100) * this.#n))]!;
      this.#cachedAt = now;
    }
    return this.#cached;
  }
}
