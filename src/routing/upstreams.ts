import { EventEmitter } from 'node:events';
import { Pool } from 'undici';
import type { MembershipSnapshot } from '../zookeeper/membership.ts';
import type { ReplicaPayload } from '../zookeeper/payload.ts';
import { pick, type LatencyStats, type PickOptions } from './balancer.ts';
import { OutlierState, type OutlierOptions } from './outlier.ts';
import { InFlightList, type Linked } from './inflight.ts';

/**
 * Why requests in flight on a replica are moved elsewhere (DESIGN.md invariant 8):
 * - `left`: it left the live set without announcing a drain (deregistered as unhealthy, or its session died);
 * - `ejected`: passive outlier ejection;
 * - `unhealthy`: this sidecar's own health verdict on its local replica, acted on before ZooKeeper hears of it.
 */
export type RescueReason = 'left' | 'ejected' | 'unhealthy';

/** An attempt in flight on an upstream, as the table sees it. */
export interface InFlight extends Linked {
  /** Moves the request to another replica if that is safe and allowed; true when it was taken off this one. */
  rescue(reason: RescueReason): boolean;
}

export interface Upstream {
  readonly id: string;
  zone: string;
  weight: number;
  readonly origin: string;
  readonly pool: Pool;
  readonly outlier: OutlierState;
  /** Requests in flight to it from this sidecar: the size of `inflight`. */
  readonly outstanding: number;
  /** Its registrar announced a drain: no new requests, but those in flight finish there. */
  draining: boolean;
  /** In flight from this sidecar, oldest first. */
  readonly inflight: InFlightList<InFlight>;
  /** Epoch ms it (re)joined, for slow start; 0: part of the set from the start, no ramp. */
  since: number;
  readonly latency: UpstreamLatency;
}

/** Response-start latency of one upstream as this sidecar sees it: a fast and a slow EWMA. */
export class UpstreamLatency implements LatencyStats {
  fastMs = 0;
  slowMs = 0;
  at = 0;
  observe(ms: number, now: number): void {
    if (this.at === 0) {
      this.fastMs = ms;
      this.slowMs = ms;
    } else {
      this.fastMs += 0.3 * (ms - this.fastMs);
      this.slowMs += 0.02 * (ms - this.slowMs);
    }
    this.at = now;
  }
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
  /** A replica failed: `moved` requests in flight there went elsewhere, `stayed` may not move (unsafe, started). */
  rescue: [{ id: string; reason: RescueReason; moved: number; stayed: number }];
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
  /** Replicas this sidecar's own health checks say are down (its local replica), whatever ZooKeeper says. */
  readonly #down = new Set<string>();
  /** Epoch ms since when the table has held replicas: those joining an established fleet ramp up (slow start). */
  #populatedSince = 0;

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

  isDown(id: string): boolean {
    return this.#down.has(id);
  }

  update(snapshot: MembershipSnapshot): void {
    if (this.#closed) return;
    const now = Date.now();
    const established = this.#populatedSince > 0 && now - this.#populatedSince >= (this.#opts.balance.slowStartMs ?? 0);
    const byId = new Map(this.#upstreams.map((u) => [u.id, u]));
    const next: Upstream[] = [];
    const replaced: Upstream[] = [];
    for (const r of snapshot.replicas) {
      const existing = byId.get(r.id);
      byId.delete(r.id);
      if (existing && existing.origin === new URL(r.url).origin) {
        // Weight, zone and drain state change in place: the pool, its connections and the outlier history stay.
        existing.weight = r.weight;
        existing.zone = r.zone;
        existing.draining = r.state === 'draining';
        next.push(existing);
      } else {
        if (existing) replaced.push(existing);
        next.push(this.#create(r, established ? now : 0));
      }
    }
    this.#upstreams = next;
    this.#stale = snapshot.stale;
    if (next.length === 0) this.#populatedSince = 0;
    else if (this.#populatedSince === 0) this.#populatedSince = now;
    // Replicas that left. A drained one finishes what it has; a failed one gives up what may move (only after
    // the table no longer offers it, so the rescued requests go elsewhere).
    for (const gone of byId.values()) {
      if (!gone.draining) this.#rescueAll(gone, 'left');
      void gone.pool.close().catch(() => undefined);
    }
    // Same id at a new address: the old process is not known to have failed; let it finish.
    for (const old of replaced) void old.pool.close().catch(() => undefined);
    this.emit('changed', { ids: next.map((u) => u.id), stale: snapshot.stale });
  }

  /**
   * This sidecar's health verdict on a replica (its own). Down: no new requests and those in flight move at
   * once, without waiting for the deregistration to travel through ZooKeeper (or while ZooKeeper is away).
   */
  setDown(id: string, down: boolean): void {
    if (down === this.#down.has(id)) return;
    if (!down) {
      this.#down.delete(id);
      const back = this.#upstreams.find((x) => x.id === id);
      if (back) back.since = Date.now(); // back with cold caches: ramp up
      return;
    }
    this.#down.add(id);
    const u = this.#upstreams.find((x) => x.id === id);
    if (u) this.#rescueAll(u, 'unhealthy');
  }

  /**
   * Picks an upstream, skipping `exclude` (replicas already tried for this request) and ejected, down or
   * draining ones — unless that leaves none while some exist: then a draining one (it still serves), else
   * any of them rather than nobody (panic mode).
   */
  choose(exclude: ReadonlySet<string> | undefined, now: number): Upstream | undefined {
    const all = this.#upstreams;
    // Hot path, no allocation: nothing excluded, ejected, down or draining.
    if (exclude === undefined && this.#allUsable(all, now)) return pick(all, this.#opts.balance, now);
    const candidates = exclude === undefined ? all : all.filter((u) => !exclude.has(u.id));
    const open = candidates.filter((u) => this.#usable(u, now));
    if (open.length > 0) return pick(open, this.#opts.balance, now);
    if (candidates.length === 0) return undefined;
    // A draining replica still answers: better than panic routing to an ejected or down one.
    const draining = candidates.filter((u) => u.draining && !this.#down.has(u.id) && !u.outlier.isEjected(now));
    if (draining.length > 0) return pick(draining, this.#opts.balance, now);
    this.emit('panic', { candidates: candidates.length });
    return pick(candidates, this.#opts.balance, now);
  }

  /** Whether some replica outside `exclude` could take a request (for retries and rescues). */
  hasAlternative(exclude: ReadonlySet<string>): boolean {
    for (const u of this.#upstreams) if (!exclude.has(u.id) && !this.#down.has(u.id)) return true;
    return false;
  }

  recordSuccess(u: Upstream, now: number): void {
    u.outlier.recordSuccess(now);
  }

  recordFailure(u: Upstream, now: number): void {
    if (!u.outlier.recordFailure(now)) return;
    const ejected = this.#upstreams.filter((x) => x.outlier.isEjected(now)).length;
    if (ejected + 1 > Math.floor((this.#opts.maxEjectedPercent / 100) * this.#upstreams.length)) return;
    const ms = u.outlier.eject(now);
    u.since = now + ms; // when the ejection ends, its share ramps up again
    this.emit('ejected', { id: u.id, ms });
    this.#rescueAll(u, 'ejected');
  }

  async close(): Promise<void> {
    this.#closed = true;
    const pools = this.#upstreams.map((u) => u.pool);
    this.#upstreams = [];
    await Promise.all(pools.map((p) => p.close().catch(() => undefined)));
  }

  #usable(u: Upstream, now: number): boolean {
    return !u.draining && !u.outlier.isEjected(now) && !this.#down.has(u.id);
  }

  #allUsable(all: readonly Upstream[], now: number): boolean {
    for (const u of all) if (!this.#usable(u, now)) return false;
    return true;
  }

  #rescueAll(u: Upstream, reason: RescueReason): void {
    if (u.inflight.size === 0) return;
    let moved = 0;
    let stayed = 0;
    for (const f of u.inflight.toArray()) {
      if (f.rescue(reason)) moved++;
      else stayed++;
    }
    this.emit('rescue', { id: u.id, reason, moved, stayed });
  }

  #create(r: ReplicaPayload, since: number): Upstream {
    const origin = new URL(r.url).origin;
    const p = this.#opts.pool;
    return {
      since,
      latency: new UpstreamLatency(),
      id: r.id,
      zone: r.zone,
      weight: r.weight,
      origin,
      get outstanding() {
        return this.inflight.size;
      },
      draining: r.state === 'draining',
      inflight: new InFlightList(),
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
