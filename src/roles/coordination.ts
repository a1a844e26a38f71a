import { EventEmitter } from 'node:events';
import type { Config } from '../config.ts';
import { ErrorCode, SidecarError, toSidecarError } from '../errors.ts';
import { Reconciler } from '../reconciler.ts';
import { parseAllowList, partitionAllowed, type AllowList } from '../routing/allowed-upstreams.ts';
import type { RoutingTable } from '../routing/upstreams.ts';
import type { Membership, MembershipSnapshot } from '../zookeeper/membership.ts';
import type { Registration } from '../zookeeper/registration.ts';
import { ensureLayout, type LayoutResult, type ZkAclApi } from '../zookeeper/layout.ts';
import { RuntimeConfigWatch, type ZkWatchApi } from '../zookeeper/runtime-config.ts';
import { RuntimeTuning } from './runtime-tuning.ts';

export interface CoordinationEvents {
  /** The coordination nodes exist and are ours (after each new session). */
  layout: [LayoutResult];
  layoutError: [{ error: SidecarError; retryInMs: number }];
  /** The sidecar must not run on: the coordination nodes are open to others (SHA_ZK_ACL_OPEN). */
  fatal: [SidecarError];
  /** A live replica whose URL is outside proxy.allowedUpstreams; once per distinct id and URL. */
  refused: [SidecarError];
  /** This replica entered or left maintenance. */
  maintenance: [{ id: string; on: boolean }];
}

/**
 * What every sidecar does for the coordination layer whatever its roles: keeps the root, replicas/, election/
 * and config present and closed to other identities, watches the shared runtime config, and sits between
 * membership and the routing table (allowed upstreams, maintenance, weights). app.ts only orders it.
 */
export class Coordination extends EventEmitter<CoordinationEvents> {
  readonly runtime: RuntimeConfigWatch;
  readonly tuning: RuntimeTuning;
  readonly allow: AllowList | undefined;
  readonly #zk: ZkAclApi & ZkWatchApi;
  readonly #config: Config;
  readonly #layout: Reconciler;
  readonly #refusedSeen = new Set<string>();
  #layoutSession: string | undefined;
  #lastSnapshot: MembershipSnapshot | undefined;
  #table: RoutingTable | undefined;
  #maintenance = false;
  #started = false;
  #fatal = false;

  constructor(zk: ZkAclApi & ZkWatchApi, config: Config) {
    super();
    this.#zk = zk;
    this.#config = config;
    const zkc = config.zookeeper;
    const retry = { baseMs: zkc.retryBaseMs, maxMs: zkc.retryMaxMs };
    this.runtime = new RuntimeConfigWatch(zk, { path: `${zkc.root}/config`, retry });
    const p = config.proxy;
    this.tuning = new RuntimeTuning({ retry: p.retry, outlier: p.outlier, hedge: p.hedge });
    this.allow = p.allowedUpstreams === undefined ? undefined : parseAllowList(p.allowedUpstreams);
    this.#layout = new Reconciler(
      () => this.#ensureLayout(),
      retry,
      (err, retryInMs) => {
        const error = toSidecarError(err, ErrorCode.ZK_ERROR, 'preparing the coordination nodes failed');
        if (error.code === ErrorCode.ZK_ACL_OPEN) return this.#fail(error);
        this.emit('layoutError', { error, retryInMs });
      },
    );
    this.runtime.on('change', ({ current }) => {
      this.tuning.apply(current.config);
      this.#reroute();
    });
  }

  /** Whether digest auth is configured (false: every node is world-writable). */
  get authenticated(): boolean {
    return this.#config.zookeeper.auth !== undefined;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#zk.on('connected', this.#onConnected);
    if (this.#zk.state.kind === 'connected') this.#layout.kick();
    this.runtime.start();
  }

  close(): void {
    this.#layout.close();
    this.runtime.close();
    this.#zk.off('connected', this.#onConnected);
  }

  /** Membership snapshots reach the table through the allow list and the runtime config's overlay. */
  route(membership: Membership, table: RoutingTable): void {
    this.#table = table;
    membership.on('snapshot', (snap) => {
      this.#lastSnapshot = snap;
      this.#reroute();
    });
  }

  /** The registrar deregisters this replica while the runtime config puts it in maintenance. */
  attachRegistration(registration: Registration): void {
    const id = this.#config.replica.id;
    const follow = (): void => {
      const on = this.tuning.maintenance.includes(id);
      if (on === this.#maintenance) return;
      this.#maintenance = on;
      registration.setMaintenance(on);
      this.emit('maintenance', { id, on });
    };
    this.runtime.on('change', follow);
    follow();
  }

  /** For /replicas. */
  view(): unknown {
    const { version, config } = this.runtime.current;
    return {
      authenticated: this.authenticated,
      runtimeConfig: { version, maintenance: this.tuning.maintenance, retry: this.tuning.retry, outlier: this.tuning.outlier, hedge: this.tuning.hedge, ...(config.replicas ? { replicas: config.replicas } : {}) },
      allowedUpstreams: this.allow?.rules ?? null,
    };
  }

  readonly #onConnected = ({ sessionId }: { sessionId: string }): void => {
    if (this.#layoutSession !== sessionId) this.#layout.kick();
  };

  async #ensureLayout(): Promise<void> {
    const state = this.#zk.state;
    if (state.kind !== 'connected' || this.#fatal) return;
    const result = await ensureLayout(this.#zk, this.#config.zookeeper.root, this.#config.zookeeper.auth?.fixOpenAcls ?? false);
    this.#layoutSession = state.sessionId;
    this.emit('layout', result);
  }

  #fail(error: SidecarError): void {
    if (this.#fatal) return;
    this.#fatal = true;
    this.#layout.close();
    this.emit('fatal', error);
  }

  #reroute(): void {
    const snap = this.#lastSnapshot;
    if (snap === undefined || this.#table === undefined) return;
    const { allowed, refused } = partitionAllowed(this.allow, snap.replicas);
    // Forget what is gone, so the set stays as small as the live set and a returning bad URL warns again.
    const now = new Set(refused.map((r) => `${r.id}\n${r.url}`));
    for (const key of this.#refusedSeen) if (!now.has(key)) this.#refusedSeen.delete(key);
    for (const r of refused) {
      const key = `${r.id}\n${r.url}`;
      if (this.#refusedSeen.has(key)) continue;
      this.#refusedSeen.add(key);
      this.emit(
        'refused',
        new SidecarError(ErrorCode.UPSTREAM_NOT_ALLOWED, `replica ${r.id} points at ${r.url}, outside proxy.allowedUpstreams: not routed to`, {
          details: { replica: r.id, url: r.url },
        }),
      );
    }
    this.#table.update({ ...snap, replicas: this.tuning.overlay(allowed) });
  }
}
