import { EventEmitter } from 'node:events';
import type { BackoffPolicy } from '../backoff.ts';
import { ErrorCode, isSidecarError, SidecarError, toSidecarError } from '../errors.ts';
import { Reconciler } from '../reconciler.ts';
import type { NodeStat, ZkApi, ZkWatcher } from './api.ts';
import { EMPTY_RUNTIME_CONFIG, decodeRuntimeConfig, type RuntimeConfig } from './runtime-config-schema.ts';

/** ZkApi plus watches on data and existence; ZkSession has them. */
export interface ZkWatchApi extends ZkApi {
  getData(path: string, watcher?: ZkWatcher): Promise<{ data: Buffer; stat: NodeStat }>;
  exists(path: string, watcher?: ZkWatcher): Promise<NodeStat | null>;
}

export interface AppliedRuntimeConfig {
  readonly config: RuntimeConfig;
  /** The znode's data version this came from; -1 when the node is absent (no overrides). */
  readonly version: number;
}

export interface RuntimeConfigEvents {
  /** A new valid document is in force. */
  change: [{ current: AppliedRuntimeConfig; previous: AppliedRuntimeConfig }];
  /** A document failed validation; the previous one stays in force. Once per znode version. */
  rejected: [SidecarError];
  /** Reading failed; retried with backoff, the previous document stays in force. */
  error: [{ error: SidecarError; retryInMs: number }];
}

/**
 * Watches <root>/config and keeps the last valid document. ZooKeeper watches are one-shot: every event
 * re-reads and re-arms; a reconnection re-reads too, so a change made while we were away is not missed.
 */
export class RuntimeConfigWatch extends EventEmitter<RuntimeConfigEvents> {
  readonly #zk: ZkWatchApi;
  readonly #path: string;
  readonly #reconciler: Reconciler;
  #current: AppliedRuntimeConfig = { config: EMPTY_RUNTIME_CONFIG, version: -1 };
  #rejectedVersion: number | undefined;
  #started = false;

  constructor(zk: ZkWatchApi, opts: { path: string; retry: BackoffPolicy }) {
    super();
    this.#zk = zk;
    this.#path = opts.path;
    this.#reconciler = new Reconciler(
      () => this.#refresh(),
      opts.retry,
      (err, retryInMs) => {
        const error = toSidecarError(err, ErrorCode.ZK_ERROR, 'reading the runtime config failed');
        this.emit('error', { error, retryInMs });
      },
    );
  }

  get current(): AppliedRuntimeConfig {
    return this.#current;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#zk.on('connected', this.#kick);
    if (this.#zk.state.kind === 'connected') this.#reconciler.kick();
  }

  close(): void {
    this.#reconciler.close();
    this.#zk.off('connected', this.#kick);
  }

  /** Resolves when no read is in flight (tests). */
  idle(): Promise<void> {
    return this.#reconciler.idle();
  }

  readonly #kick = (): void => this.#reconciler.kick();

  async #refresh(): Promise<void> {
    if (this.#zk.state.kind !== 'connected') return; // the next `connected` re-reads
    let read: { data: Buffer; stat: NodeStat };
    try {
      read = await this.#zk.getData(this.#path, this.#kick);
    } catch (err) {
      if (!isSidecarError(err, ErrorCode.ZK_NO_NODE)) throw err;
      // No node: no overrides. The existence watch tells us when someone creates it.
      if ((await this.#zk.exists(this.#path, this.#kick)) !== null) {
        this.#reconciler.kick(); // created between the two calls
        return;
      }
      this.#apply({ config: EMPTY_RUNTIME_CONFIG, version: -1 });
      return;
    }
    const version = read.stat.version;
    let config: RuntimeConfig;
    try {
      config = decodeRuntimeConfig(read.data);
    } catch (err) {
      const error = err as SidecarError;
      if (this.#rejectedVersion !== version) {
        this.#rejectedVersion = version;
        this.emit('rejected', new SidecarError(error.code, error.message, { details: { ...error.details, path: this.#path, version, keptVersion: this.#current.version } }));
      }
      return;
    }
    this.#rejectedVersion = undefined;
    this.#apply({ config, version });
  }

  #apply(next: AppliedRuntimeConfig): void {
    const previous = this.#current;
    if (previous.version === next.version && JSON.stringify(previous.config) === JSON.stringify(next.config)) return;
    this.#current = next;
    this.emit('change', { current: next, previous });
  }
}
