import { EventEmitter } from 'node:events';
import type { BackoffPolicy } from '../backoff.ts';
import { ErrorCode, isSidecarError, SidecarError, toSidecarError } from '../errors.ts';
import { Reconciler } from '../reconciler.ts';
import type { SessionState, ZkApi } from './api.ts';
import { encodePayload, type ReplicaPayload } from './payload.ts';

export interface RegistrationOptions {
  /** Directory of live replicas, e.g. /superset-ha/prod/replicas. */
  readonly dir: string;
  readonly payload: ReplicaPayload;
  /** After a new session, wait a random [0, jitterMs) before re-creating the node, so a fleet does not herd. */
  readonly jitterMs: number;
  /**
   * On drain, the payload is marked `draining` this long before the node is deleted, so routers can tell a
   * drain (let requests in flight finish) from a failure (move them elsewhere at once).
   */
  readonly drainAnnounceMs: number;
  readonly retry: BackoffPolicy;
}

export interface RegistrationEvents {
  /** `registered` flips: our ephemeral node exists and is owned by our session (or no longer). */
  change: [{ registered: boolean; reason: string }];
  /** A reconcile step failed; it is retried after `retryInMs`. */
  error: [{ error: SidecarError; retryInMs: number }];
}

/**
 * Keeps replicas/<id> present exactly while the replica is healthy and not draining. Every step reads
 * ZooKeeper's actual state (does the node exist, and whose session owns it) rather than trusting a flag,
 * so reconnects, expiry and restarts converge by running the same step again. Short disconnects do nothing:
 * the session, and so the node, survives them.
 */
export class Registration extends EventEmitter<RegistrationEvents> {
  readonly #zk: ZkApi;
  readonly #opts: RegistrationOptions;
  readonly #path: string;
  readonly #data: Buffer;
  readonly #drainingData: Buffer;
  readonly #reconciler: Reconciler;
  #healthy = false;
  #draining = false;
  #maintenance = false;
  #registered = false;
  #started = false;
  #dirReady: string | undefined; // session id for which the parent directory is known to exist
  #createNotBefore = 0; // epoch ms: the re-registration jitter after a renewed session
  #removeNotBefore: number | undefined; // epoch ms: set once the draining mark is written

  constructor(zk: ZkApi, opts: RegistrationOptions) {
    super();
    this.#zk = zk;
    this.#opts = opts;
    this.#path = `${opts.dir}/${opts.payload.id}`;
    this.#data = encodePayload(opts.payload);
    this.#drainingData = encodePayload({ ...opts.payload, state: 'draining' });
    this.#reconciler = new Reconciler(
      () => this.#reconcile(),
      opts.retry,
      (err, retryInMs) => {
        const error = toSidecarError(err, ErrorCode.ZK_ERROR, 'registration step failed');
        this.emit('error', { error, retryInMs });
      },
    );
  }

  get path(): string {
    return this.#path;
  }

  get registered(): boolean {
    return this.#registered;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#zk.on('session', this.#onSession);
    this.#zk.on('connected', this.#onConnected);
    this.#zk.on('state', this.#onState);
    if (this.#zk.state.kind === 'connected') this.#reconciler.kick();
  }

  /** Health verdict from the monitor; only changes cause ZooKeeper writes. */
  setHealthy(healthy: boolean): void {
    if (healthy === this.#healthy) return;
    this.#healthy = healthy;
    this.#reconciler.kick();
  }

  /** Maintenance from the shared runtime config: deregistered while on, without a restart; reversible. */
  setMaintenance(on: boolean): void {
    if (on === this.#maintenance) return;
    this.#maintenance = on;
    this.#reconciler.kick();
  }

  /** Deregisters for good (shutdown or admin drain) and resolves once the node is gone or we gave up trying. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.#draining = true;
    this.#reconciler.kick();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      await this.#reconciler.idle();
      if (!this.#registered) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return !this.#registered;
  }

  close(): void {
    this.#reconciler.close();
    this.#zk.off('session', this.#onSession);
    this.#zk.off('connected', this.#onConnected);
    this.#zk.off('state', this.#onState);
  }

  readonly #onSession = ({ renewed }: { renewed: boolean }): void => {
    this.#dirReady = undefined;
    if (renewed && this.#registered) this.#setRegistered(false, 'session expired');
    // A renewed session means every sidecar that shared the outage is re-registering now: spread them out.
    // The delay is a gate in #reconcile, not a later kick: the `connected` event that follows at once (and
    // any health change) kicks too, and #reconcile itself schedules the run the gate asks for.
    this.#createNotBefore = renewed ? Date.now() + Math.floor(Math.random() * this.#opts.jitterMs) : 0;
    this.#reconciler.kick();
  };

  readonly #onConnected = (): void => {
    this.#reconciler.kick();
  };

  readonly #onState = (state: SessionState): void => {
    // Past the session timeout we can no longer claim the node is there.
    if (state.kind === 'disconnected' && state.suspect && this.#registered) this.#setRegistered(false, 'session suspect');
  };

  async #reconcile(): Promise<void> {
    const state = this.#zk.state;
    if (state.kind !== 'connected') return; // the next `connected` event runs us again
    const want = this.#healthy && !this.#draining && !this.#maintenance;
    const stat = await this.#zk.exists(this.#path);
    const ours = stat !== null && stat.ephemeralOwner === state.sessionId;

    if (want && stat === null) {
      const wait = this.#createNotBefore - Date.now();
      if (wait > 0) {
        this.#reconciler.kick(wait);
        return;
      }
      await this.#ensureDir(state.sessionId);
      try {
        await this.#zk.create(this.#path, this.#data, 'ephemeral');
      } catch (err) {
        if (isSidecarError(err, ErrorCode.ZK_NODE_EXISTS)) throw this.#ownedElsewhere(); // raced; re-check later
        throw err;
      }
      this.#removeNotBefore = undefined;
      this.#setRegistered(true, 'healthy');
    } else if (want && ours) {
      this.#setRegistered(true, 'healthy');
    } else if (want && stat !== null) {
      // Another session holds our id: our previous process whose session has not expired yet (a restart), or
      // a second replica misconfigured with the same id. Never delete it; retry until it goes away.
      throw this.#ownedElsewhere(stat.ephemeralOwner);
    } else if (!want && ours) {
      // A drain or maintenance is announced (payload marked) before the node goes: routers let it finish.
      if ((this.#draining || this.#maintenance) && this.#opts.drainAnnounceMs > 0) {
        if (this.#removeNotBefore === undefined) {
          await this.#zk.setData(this.#path, this.#drainingData, stat.version);
          this.#removeNotBefore = Date.now() + this.#opts.drainAnnounceMs;
        }
        const wait = this.#removeNotBefore - Date.now();
        if (wait > 0) {
          this.#reconciler.kick(wait);
          return;
        }
      }
      try {
        await this.#zk.remove(this.#path, stat.version);
      } catch (err) {
        if (!isSidecarError(err, ErrorCode.ZK_NO_NODE)) throw err;
      }
      this.#setRegistered(false, this.#why());
    } else {
      this.#setRegistered(false, this.#why());
    }
  }

  async #ensureDir(sessionId: string): Promise<void> {
    if (this.#dirReady === sessionId) return;
    await this.#zk.mkdirp(this.#opts.dir);
    this.#dirReady = sessionId;
  }

  #ownedElsewhere(owner?: string): SidecarError {
    return new SidecarError(ErrorCode.ZK_NODE_OWNED_ELSEWHERE, `znode ${this.#path} is held by another session`, {
      details: { path: this.#path, ...(owner === undefined ? {} : { owner }) },
    });
  }

  #why(): string {
    return this.#draining ? 'draining' : this.#maintenance ? 'maintenance' : 'unhealthy';
  }

  #setRegistered(registered: boolean, reason: string): void {
    if (registered === this.#registered) return;
    this.#registered = registered;
    this.emit('change', { registered, reason });
  }
}
