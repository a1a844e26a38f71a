import { EventEmitter } from 'node:events';
import type { BackoffPolicy } from '../backoff.ts';
import type { SidecarError } from '../errors.ts';
import { ErrorCode, toSidecarError } from '../errors.ts';
import { Reconciler } from '../reconciler.ts';
import type { SessionState, ZkApi } from './api.ts';
import { ChildrenCache, type SyncReads } from './children-cache.ts';
import { compareIds, type ReplicaPayload } from './payload.ts';

export interface MembershipSnapshot {
  /** Live replicas, sorted by id. */
  readonly replicas: readonly ReplicaPayload[];
  /** True when this set could not be confirmed with a connected session (fail static). */
  readonly stale: boolean;
  /** When the set was last read from ZooKeeper (epoch ms); 0 before the first read. */
  readonly readAt: number;
  /**
   * Replicas kept in the set although their znodes are gone, because ZooKeeper has just come back from an
   * outage (see MembershipOptions.settleMs). Non-empty only while `stale`.
   */
  readonly held: readonly string[];
}

/** What one published snapshot changed, by replica id (for a short log line instead of the whole set). */
export interface MembershipChange {
  readonly joined: readonly string[];
  readonly left: readonly string[];
  /** Still present with a different payload (weight, zone, url, or registered again). */
  readonly updated: readonly string[];
  readonly snapshot: MembershipSnapshot;
}

export interface MembershipEvents {
  snapshot: [MembershipSnapshot];
  /** Emitted right after every `snapshot`, with what it changed. */
  change: [MembershipChange];
  /** ZooKeeper reads one refresh issued (a change should cost about one). */
  reads: [SyncReads];
  /** A replica znode whose payload does not parse; it is left out of the set. */
  badPayload: [SidecarError];
  /** Reading the set failed; the last known set stays in force and the read is retried. */
  error: [{ error: SidecarError; retryInMs: number }];
}

export interface MembershipOptions {
  readonly dir: string;
  readonly retry: BackoffPolicy;
  /**
   * After our session reconnects from an outage, removals are believed only this long later. An outage of
   * the ensemble can expire every sidecar's session at once (the resumed leader does so within about a
   * session timeout); their znodes vanish together and come back as the registrars re-register (within
   * their registerJitterMs). Believing the gap would route to a shrunken
   * or empty set for that long; a replica that really died meanwhile is covered by passive ejection, as
   * during the outage itself.
   */
  readonly settleMs: number;
  /**
   * After a reconnect or a new session the set is read again, after a random pause of up to this long, so
   * that a fleet of routers that lost the same server does not re-read in lockstep. 0 (the default): at once.
   */
  readonly rereadJitterMs?: number;
  /** Source of randomness for the jitter (tests). */
  readonly random?: () => number;
}

/**
 * Watches replicas/ and publishes snapshots of the live set. Fail static: losing ZooKeeper never empties
 * the set; it is kept and marked stale. An empty set is believed only when read over a connected session,
 * and removals only once the settle window after an outage has passed. Payloads are cached
 * (children-cache.ts): a change costs about one read, not one per replica.
 */
export class Membership extends EventEmitter<MembershipEvents> {
  readonly #zk: ZkApi;
  readonly #opts: MembershipOptions;
  readonly #reconciler: Reconciler;
  readonly #cache: ChildrenCache;
  #snapshot: MembershipSnapshot = { replicas: [], stale: true, readAt: 0, held: [] };
  #dirReady: string | undefined;
  #readUnder: string | undefined; // the session whose watches the cache relies on
  #started = false;
  #connectedOnce = false;
  #outage = false; // our session left `connected` after having been connected
  #settleUntil = 0; // epoch ms; removals read before this are not believed yet

  constructor(zk: ZkApi, opts: MembershipOptions) {
    super();
    this.#zk = zk;
    this.#opts = opts;
    this.#cache = new ChildrenCache(zk, opts.dir, {
      // Watch events of one server packet arrive back to back (a delete fires the child's data watch and the
      // directory's children watch): one microtask later they are all in, and one refresh serves them.
      onDirty: () => queueMicrotask(() => this.#reconciler.kick()),
      onBadPayload: (err) => this.emit('badPayload', err),
    });
    this.#reconciler = new Reconciler(
      () => this.#refresh(),
      opts.retry,
      (err, retryInMs) => {
        const error = toSidecarError(err, ErrorCode.ZK_ERROR, 'membership read failed');
        this.#markStale();
        this.emit('error', { error, retryInMs });
      },
    );
  }

  get snapshot(): MembershipSnapshot {
    return this.#snapshot;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#zk.on('connected', this.#onConnected);
    this.#zk.on('session', this.#onSession);
    this.#zk.on('state', this.#onState);
    if (this.#zk.state.kind === 'connected') this.#reconciler.kick();
  }

  close(): void {
    this.#reconciler.close();
    this.#zk.off('connected', this.#onConnected);
    this.#zk.off('session', this.#onSession);
    this.#zk.off('state', this.#onState);
  }

  /** Resolves when no read is in flight (tests). */
  idle(): Promise<void> {
    return this.#reconciler.idle();
  }

  readonly #onConnected = (): void => {
    const again = this.#connectedOnce;
    if (this.#outage) this.#settleUntil = Date.now() + this.#opts.settleMs;
    this.#outage = false;
    this.#connectedOnce = true;
    // Same session: the client library re-arms our watches (SetWatches) and the server reports what we
    // missed; list once more anyway, cheaply, to confirm the set. A new session re-reads all (#refresh).
    this.#cache.invalidateList();
    const jitter = this.#opts.rereadJitterMs ?? 0;
    this.#reconciler.kick(again && jitter > 0 ? Math.max(1, Math.floor((this.#opts.random ?? Math.random)() * jitter)) : 0);
  };

  readonly #onSession = (): void => {
    this.#dirReady = undefined;
  };

  readonly #onState = (state: SessionState): void => {
    if (state.kind === 'connected') return;
    if (this.#connectedOnce) this.#outage = true;
    this.#markStale();
  };

  async #refresh(): Promise<void> {
    const state = this.#zk.state;
    if (state.kind !== 'connected') return;
    if (this.#dirReady !== state.sessionId) {
      await this.#zk.mkdirp(this.#opts.dir);
      this.#dirReady = state.sessionId;
    }
    if (this.#readUnder !== state.sessionId) {
      this.#cache.invalidateAll(); // the data watches died with the session the cache was read under
      this.#readUnder = state.sessionId;
    }
    const { replicas, reads } = await this.#cache.sync();
    this.emit('reads', reads);
    // Believe the result only if the same session is still connected: otherwise it may be half a picture.
    const now = this.#zk.state;
    if (now.kind !== 'connected' || now.sessionId !== state.sessionId) {
      this.#markStale();
      return;
    }
    this.#publish(this.#settle(replicas, Date.now()));
  }

  /** Within the settle window, replicas missing from what was read stay in the set (held, stale). */
  #settle(read: ReplicaPayload[], now: number): MembershipSnapshot {
    if (now >= this.#settleUntil) return { replicas: read, stale: false, readAt: now, held: [] };
    const ids = new Set(read.map((r) => r.id));
    const kept = this.#snapshot.replicas.filter((r) => !ids.has(r.id));
    // Not "settled early" when all are present: the resumed leader may still expire sessions a moment later.
    if (kept.length === 0) return { replicas: read, stale: false, readAt: now, held: [] };
    // Look again when the window closes: what is still missing then is believed gone.
    this.#reconciler.kick(this.#settleUntil - now);
    const replicas = [...read, ...kept].sort((a, b) => compareIds(a.id, b.id));
    return { replicas, stale: true, readAt: now, held: kept.map((r) => r.id) };
  }

  #markStale(): void {
    if (!this.#snapshot.stale) this.#publish({ ...this.#snapshot, stale: true });
  }

  #publish(next: MembershipSnapshot): void {
    const prev = this.#snapshot;
    // The cache hands out the same payload object while a znode is unchanged: identity is equality here.
    const same = prev.replicas.length === next.replicas.length && prev.replicas.every((r, i) => r === next.replicas[i]);
    if (same && prev.stale === next.stale && prev.held.join() === next.held.join()) {
      this.#snapshot = { ...next, replicas: prev.replicas };
      return;
    }
    this.#snapshot = next;
    this.emit('snapshot', next);
    this.emit('change', { ...diff(prev.replicas, next.replicas), snapshot: next });
  }
}

/** Both lists are sorted by id (ChildrenCache keeps them so): one merge walk, no maps. */
function diff(prev: readonly ReplicaPayload[], next: readonly ReplicaPayload[]): { joined: string[]; left: string[]; updated: string[] } {
  const joined: string[] = [];
  const left: string[] = [];
  const updated: string[] = [];
  let i = 0;
  let j = 0;
  while (i < prev.length || j < next.length) {
    const a = prev[i];
    const b = next[j];
    const order = a === undefined ? 1 : b === undefined ? -1 : compareIds(a.id, b.id);
    if (order < 0) {
      left.push(a!.id);
      i++;
    } else if (order > 0) {
      joined.push(b!.id);
      j++;
    } else {
      if (a !== b && JSON.stringify(a) !== JSON.stringify(b)) updated.push(b!.id);
      i++;
      j++;
    }
  }
  return { joined, left, updated };
}
