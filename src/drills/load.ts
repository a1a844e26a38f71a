import { Agent, request } from 'undici';
import { classify, type LedgerEntry, type Phase, type RouteClass, type Seen } from './ledger.ts';

/** One request the load sends: where, what, and its route class for the ledger. */
export interface LoadRequest {
  readonly route: RouteClass;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

export interface LoadOptions {
  readonly sidecars: readonly { id: string; proxy: string }[];
  /** Builds request number `seq` (the mix, ids in bodies). */
  readonly make: (seq: number) => LoadRequest;
  readonly rate: number;
  readonly maxInFlight: number;
  readonly clientTimeoutMs: number;
  /** ms since the scenario's start (the ledger's clock). */
  readonly now: () => number;
  readonly phase: (t: number) => Phase;
  readonly record: (e: LedgerEntry) => void;
  readonly nextSeq: () => number;
}

/** Error codes for a request that never left this machine: the server cannot have seen it. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * Open-loop load at a fixed rate, spread round-robin over every sidecar (as an ingress would), bounded by
 * time (stop()) and by requests in flight: when `maxInFlight` are outstanding the tick is skipped and
 * counted as `shed`, so a hung replica cannot make the drill pile up requests without bound.
 */
export class Load {
  readonly #o: LoadOptions;
  readonly #agent: Agent;
  readonly #inflight = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #sent = 0;
  shed = 0;

  constructor(o: LoadOptions) {
    this.#o = o;
    this.#agent = new Agent({ keepAliveTimeout: 4000, connections: 128 });
  }

  get inFlight(): number {
    return this.#inflight.size;
  }

  start(): void {
    if (this.#timer) return;
    const t0 = this.#o.now();
    const period = 1000 / this.#o.rate;
    const tick = () => {
      // Catch up on ticks a busy event loop delayed, so the rate holds.
      const due = Math.floor((this.#o.now() - t0) / period) + 1;
      while (this.#sent < due) {
        this.#sent++;
        if (this.#inflight.size >= this.#o.maxInFlight) {
          this.shed++;
          continue;
        }
        const p = this.#one().finally(() => this.#inflight.delete(p));
        this.#inflight.add(p);
      }
      this.#timer = setTimeout(tick, Math.max(1, period / 2));
    };
    tick();
  }

  /** Stops sending; resolves when every request in flight has an outcome (each is bounded by the client timeout). */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await Promise.allSettled([...this.#inflight]);
  }

  async close(): Promise<void> {
    await this.stop();
    await this.#agent.close();
  }

  async #one(): Promise<void> {
    const seq = this.#o.nextSeq();
    const sc = this.#o.sidecars[seq % this.#o.sidecars.length]!;
    const req = this.#o.make(seq);
    const start = this.#o.now();
    let seen: Seen;
    try {
      const res = await request(`${sc.proxy}${req.path}`, {
        dispatcher: this.#agent,
        method: req.method,
        headers: req.headers,
        body: req.body,
        headersTimeout: this.#o.clientTimeoutMs,
        bodyTimeout: this.#o.clientTimeoutMs,
      });
      const text = await res.body.text();
      let code: string | null = null;
      if (res.statusCode >= 400 && String(res.headers['content-type'] ?? '').includes('json')) {
        try {
          const e = (JSON.parse(text) as { error?: unknown }).error;
          if (typeof e === 'string' && e.startsWith('SHA_')) code = e;
        } catch {
          // not the proxy's answer; the status says enough
        }
      }
      seen = { kind: 'response', status: res.statusCode, code };
    } catch (err) {
      const e = err as { code?: string; cause?: { code?: string } };
      const code = e.code ?? e.cause?.code ?? 'ERROR';
      seen = { kind: 'error', code: code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' ? 'CLIENT_TIMEOUT' : code, sent: !NOT_SENT.has(code) };
    }
    const end = this.#o.now();
    const c = classify(req.route, seen);
    this.#o.record({ seq, start, end, sidecar: sc.id, route: req.route, method: req.method, ...c, phase: this.#o.phase(start) });
  }
}
