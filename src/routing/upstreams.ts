import { EventEmitter } from 'node:events';
import { Pool } from 'undici';
import type { MembershipSnapshot } from '../zookeeper/membership.ts';
import type { ReplicaPayload } from '../zookeeper/payload.ts';
import { pick, type PickOptions } from './balancer.ts';
import { OutlierState, type OutlierOptions } from './outlier.ts';

export interface Upstream {
  readonly id: string;
  readonly zone: string;
  readonly weight: number;
  readonly origin: string;
  readonly pool: Pool;
  readonly outlier: OutlierState;
  outstanding: number;
}

export interface UpstreamPoolOptions {
  readonly connections: number;
  readonly connectTimeoutMs: number;
  /** Idle keep-alive: below the upstream's own (gunicorn closes idle sockets after 2 s by default). */
  readonly keepAliveMs: number;
}

export interface RoutingTableOptions {
  readonly pool: UpstreamPoolOptions;
  readonly outlier: OutlierOptions;
  /** At most this share of the live replicas may be ejected at once (so never all of them). */
  readonly maxEjectedPercent: number;
  readonly balance: PickOptions;
}

export interface RoutingTableEvents {
  changed: [{ ids: string[]; stale: boolean }];
  ejected: [{ id: string; ms: number }];
  /** Every candidate was ejected: routing to them anyway rather than to nobody. */
  panic: [{ candidates: number }];
}

/**
 * The in-memory routing table: one undici Pool per live replica, following membership snapshots in-process.
 * A stale snapshot still carries the last known set (fail static); passive ejection keeps working on it.
 */
export class RoutingTable extends EventEmitter<RoutingTableEvents> {
  readonly #opts: RoutingTableOptions;
  #upstreams: Upstream[] = [];
  #stale = true;
  #closed = false;

  constructor(opts: RoutingTableOptions) {
    super();
    this.#opts = opts;
  }

  get upstreams(): readonly Upstream[] {
    return this.#upstreams;
  }

  get stale(): boolean {
    return this.#stale;
  }

  update(snapshot: MembershipSnapshot): void {
    if (this.#closed) return;
    const byId = new Map(this.#upstreams.map((u) => [u.id, u]));
    const next: Upstream[] = [];
    for (const r of snapshot.replicas) {
      const existing = byId.get(r.id);
      if (existing && existing.origin === new URL(r.url).origin && existing.weight === r.weight && existing.zone === r.zone) {
        next.push(existing);
        byId.delete(r.id);
      } else {
        next.push(this.#create(r));
      }
    }
    // Replicas that left: let their in-flight requests finish, then close the pool.
    for (const gone of byId.values()) void gone.pool.close().catch(() => undefined);
    this.#upstreams = next;
    this.#stale = snapshot.stale;
    this.emit('changed', { ids: next.map((u) => u.id), stale: snapshot.stale });
  }

  /**
   * Picks an upstream, skipping `exclude` (replicas already tried for this request) and ejected ones —
   * unless that leaves none while some exist, in which case ejection is ignored (panic mode).
   */
  choose(exclude: ReadonlySet<string> | undefined, now: number): Upstream | undefined {
    const all = this.#upstreams;
    const open: Upstream[] = [];
    let notExcluded = 0;
    for (const u of all) {
      if (exclude?.has(u.id)) continue;
      notExcluded++;
      if (!u.outlier.isEjected(now)) open.push(u);
    }
    if (open.length > 0) return pick(open, this.#opts.balance);
    if (notExcluded === 0) return undefined;
    this.emit('panic', { candidates: notExcluded });
    return pick(exclude ? all.filter((u) => !exclude.has(u.id)) : all, this.#opts.balance);
  }

  recordSuccess(u: Upstream, now: number): void {
    u.outlier.recordSuccess(now);
  }

  recordFailure(u: Upstream, now: number): void {
    if (!u.outlier.recordFailure(now)) return;
    const ejected = this.#upstreams.filter((x) => x.outlier.isEjected(now)).length;
    if (ejected + 1 > Math.floor((this.#opts.maxEjectedPercent / 100) * this.#upstreams.length)) return;
    this.emit('ejected', { id: u.id, ms: u.outlier.eject(now) });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const pools = this.#upstreams.map((u) => u.pool);
    this.#upstreams = [];
    await Promise.all(pools.map((p) => p.close().catch(() => undefined)));
  }

  #create(r: ReplicaPayload): Upstream {
    const origin = new URL(r.url).origin;
    const p = this.#opts.pool;
    return {
      id: r.id,
      zone: r.zone,
      weight: r.weight,
      origin,
      outstanding: 0,
      outlier: new OutlierState(this.#opts.outlier),
      pool: new Pool(origin, {
        connections: p.connections,
        pipelining: 1,
        connect: { timeout: p.connectTimeoutMs },
        keepAliveTimeout: p.keepAliveMs,
        keepAliveMaxTimeout: p.keepAliveMs,
      }),
    };
  }
}
