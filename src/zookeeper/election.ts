import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { BackoffPolicy } from '../backoff.ts';
import type { SidecarError } from '../errors.ts';
import { ErrorCode, isSidecarError, toSidecarError } from '../errors.ts';
import { Reconciler } from '../reconciler.ts';
import type { SessionState, WatchEvent, ZkApi } from './api.ts';

export interface ElectionOptions {
  /** Directory of candidates, e.g. /superset-ha/prod/election. */
  readonly dir: string;
  /** Written into our node as JSON {id}, so anyone can see who leads. */
  readonly id: string;
  /** The session timeout we asked for; the negotiated one is used once known, whichever is shorter. */
  readonly sessionTimeoutMs: number;
  /**
   * Leadership is given up once the last confirmed contact with the ensemble is this fraction of the session
   * timeout ago: the ensemble can only expire our session (and let another candidate win) a full timeout after
   * it last heard from us, so we step down before anyone else can step up (DESIGN.md invariant 9).
   */
  readonly disconnectFraction: number;
  readonly retry: BackoffPolicy;
  readonly now?: () => number;
}

export type LeaderInfo = { id: string; node: string } | null;

export interface ElectionEvents {
  /** We lead (true) or stopped leading (false), and why. */
  leading: [{ leading: boolean; reason: string }];
  /** The candidate that leads, as far as we know (read from the lowest node). */
  leader: [LeaderInfo];
  error: [{ error: SidecarError; retryInMs: number }];
}

const PREFIX = 'n_';
const SEQ = /_(\d{10})$/;

/**
 * ZooKeeper leader election (the recipe from the ZooKeeper docs, as Curator's LeaderLatch does it): each
 * candidate creates an EPHEMERAL_SEQUENTIAL node `n_<guid>_<seq>` under `dir`; the lowest sequence leads;
 * every other candidate watches only the node just before its own, so a leader's departure wakes one
 * candidate, not the whole fleet. The guid in the name lets us find our own node again after a create whose
 * answer was lost with the connection. After a session expiry our node is gone and we enter again.
 */
export class Election extends EventEmitter<ElectionEvents> {
  readonly #zk: ZkApi;
  readonly #opts: ElectionOptions;
  readonly #now: () => number;
  readonly #guid = randomUUID();
  readonly #reconciler: Reconciler;
  #started = false;
  #closed = false;
  #resigned = false;
  #node: string | undefined; // our node's name, for the current session
  #leading = false;
  #leader: LeaderInfo = null;
  #lastContact = 0; // epoch ms of the last exchange the ensemble confirmed
  #timeoutMs: number;
  #graceTimer: NodeJS.Timeout | undefined;
  readonly #payload: Buffer;

  constructor(zk: ZkApi, opts: ElectionOptions) {
    super();
    this.#zk = zk;
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#timeoutMs = opts.sessionTimeoutMs;
    this.#payload = Buffer.from(JSON.stringify({ id: opts.id }));
    this.#reconciler = new Reconciler(
      () => this.#reconcile(),
      opts.retry,
      (err, retryInMs) => {
        const error = toSidecarError(err, ErrorCode.ZK_ERROR, 'election step failed');
        this.emit('error', { error, retryInMs });
      },
    );
  }

  get leading(): boolean {
    return this.#leading;
  }

  get leader(): LeaderInfo {
    return this.#leader;
  }

  /** Our node's full path while we are a candidate. */
  get node(): string | null {
    return this.#node === undefined ? null : `${this.#opts.dir}/${this.#node}`;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#zk.on('session', this.#onSession);
    this.#zk.on('connected', this.#onConnected);
    this.#zk.on('state', this.#onState);
    this.#zk.on('probe', this.#onProbe);
    this.#zk.on('expired', this.#onExpired);
    if (this.#zk.state.kind === 'connected') this.#onConnected({ sessionId: this.#zk.state.sessionId });
  }

  /** Steps down and leaves the election (drain): deletes our node so the next candidate takes over now. */
  async resign(): Promise<void> {
    this.#resigned = true;
    this.#setLeading(false, 'resigned');
    this.#reconciler.kick();
    await this.#reconciler.idle();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#setLeading(false, 'closed');
    this.#clearGrace();
    this.#reconciler.close();
    this.#zk.off('session', this.#onSession);
    this.#zk.off('connected', this.#onConnected);
    this.#zk.off('state', this.#onState);
    this.#zk.off('probe', this.#onProbe);
    this.#zk.off('expired', this.#onExpired);
  }

  /** Reads who leads now from ZooKeeper (for GET /leader), rather than our possibly older view. */
  async readLeader(): Promise<LeaderInfo> {
    const children = sortBySequence(await this.#zk.getChildren(this.#opts.dir));
    const first = children[0];
    return first === undefined ? null : this.#readInfo(first);
  }

  readonly #onSession = ({ renewed }: { renewed: boolean }): void => {
    // A new session has none of the previous one's ephemerals: our node, if any, is gone.
    if (renewed) {
      this.#node = undefined;
      this.#setLeading(false, 'session expired');
    }
    this.#reconciler.kick();
  };

  readonly #onConnected = ({ timeoutMs }: { sessionId: string; timeoutMs?: number }): void => {
    this.#clearGrace();
    this.#lastContact = this.#now();
    if (timeoutMs !== undefined && timeoutMs > 0) this.#timeoutMs = Math.min(this.#opts.sessionTimeoutMs, timeoutMs);
    this.#reconciler.kick();
  };

  readonly #onProbe = ({ ok, ms }: { ok: boolean; ms: number }): void => {
    // The server heard us when it received the probe, at the latest `ms` ago.
    if (ok) this.#lastContact = this.#now() - ms;
  };

  readonly #onExpired = (): void => {
    this.#node = undefined;
    this.#setLeading(false, 'session expired');
  };

  readonly #onState = (state: SessionState): void => {
    if (state.kind === 'closed') this.#setLeading(false, 'session closed');
    if (state.kind !== 'disconnected' || this.#graceTimer !== undefined) return;
    const left = this.#lastContact + this.#opts.disconnectFraction * this.#timeoutMs - this.#now();
    this.#graceTimer = setTimeout(() => {
      this.#graceTimer = undefined;
      if (this.#zk.state.kind !== 'connected') this.#setLeading(false, 'disconnected');
    }, Math.max(0, left));
  };

  #clearGrace(): void {
    if (this.#graceTimer !== undefined) clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
  }

  readonly #watch = (_ev: WatchEvent): void => {
    this.#reconciler.kick();
  };

  async #reconcile(): Promise<void> {
    if (this.#closed || this.#zk.state.kind !== 'connected') return; // `connected` runs us again
    const dir = this.#opts.dir;
    let children = sortBySequence(await this.#zk.getChildren(dir).catch((err: unknown) => this.#missingDir(err)));
    const mine = children.filter((c) => c.includes(this.#guid));
    if (this.#resigned) {
      for (const c of mine) await this.#removeQuiet(`${dir}/${c}`);
      this.#node = undefined;
      return;
    }
    // A create retried after a lost answer can leave two of ours: keep the lowest, drop the rest.
    for (const extra of mine.slice(1)) await this.#removeQuiet(`${dir}/${extra}`);
    this.#node = mine[0];
    if (this.#node === undefined) {
      await this.#zk.mkdirp(dir);
      const created = await this.#zk.create(`${dir}/${PREFIX}${this.#guid}_`, this.#payload, 'ephemeral_sequential');
      this.#node = created.slice(dir.length + 1);
      // Read again: a candidate may have entered between our read and our create with a lower sequence
      // number; judging from the old list would make two leaders until the next watch fired.
      children = sortBySequence(await this.#zk.getChildren(dir));
    } else {
      children = children.filter((c) => !mine.slice(1).includes(c));
    }
    const index = children.indexOf(this.#node);
    if (index < 0) return this.#reconciler.kick(); // gone already (deleted by hand): enter again
    if (index === 0) {
      // Watch our own node too: if an operator deletes it, we re-enter instead of leading without it.
      const path = `${dir}/${this.#node}`;
      const stat = await this.#zk.exists(path, this.#watch);
      if (stat === null) return this.#reconciler.kick();
      // Reads may come from a lagging server, and a session that survived a long outage on our side may be
      // expired by the ensemble a moment later. A write goes through the ZooKeeper leader, which refuses it if
      // our session or node is gone: once it succeeds, nobody else can win before our session times out again.
      if (!this.#leading) await this.#zk.setData(path, this.#payload);
      this.#setLeader({ id: this.#opts.id, node: this.#node });
      this.#setLeading(true, 'elected');
      return;
    }
    this.#setLeading(false, 'not the lowest candidate');
    const predecessor = children[index - 1]!;
    const stat = await this.#zk.exists(`${dir}/${predecessor}`, this.#watch);
    if (stat === null) return this.#reconciler.kick(); // it went between our read and the watch
    const first = children[0]!;
    this.#setLeader(await this.#readInfo(first).catch(() => ({ id: 'unknown', node: first })));
  }

  async #readInfo(node: string): Promise<LeaderInfo> {
    const { data } = await this.#zk.getData(`${this.#opts.dir}/${node}`);
    try {
      const parsed = JSON.parse(data.toString('utf8')) as { id?: unknown };
      return { id: typeof parsed.id === 'string' ? parsed.id : 'unknown', node };
    } catch {
      return { id: 'unknown', node };
    }
  }

  #missingDir(err: unknown): string[] {
    if (isSidecarError(err, ErrorCode.ZK_NO_NODE)) return [];
    throw err;
  }

  async #removeQuiet(path: string): Promise<void> {
    try {
      await this.#zk.remove(path);
    } catch (err) {
      if (!isSidecarError(err, ErrorCode.ZK_NO_NODE)) throw err;
    }
  }

  #setLeader(info: LeaderInfo): void {
    if (info?.id === this.#leader?.id && info?.node === this.#leader?.node) return;
    this.#leader = info;
    this.emit('leader', info);
  }

  #setLeading(leading: boolean, reason: string): void {
    if (leading === this.#leading) return;
    // Never lead while not connected, nor after resigning or closing.
    if (leading && (this.#resigned || this.#closed || this.#zk.state.kind !== 'connected')) return;
    this.#leading = leading;
    if (!leading && this.#leader?.id === this.#opts.id) this.#setLeader(null);
    this.emit('leading', { leading, reason });
  }
}

/** Candidates in sequence order; names without a sequence suffix (not ours) sort last. */
export function sortBySequence(children: readonly string[]): string[] {
  const seq = (c: string) => {
    const m = SEQ.exec(c);
    return m ? Number(m[1]) : Number.MAX_SAFE_INTEGER;
  };
  return [...children].sort((a, b) => seq(a) - seq(b) || (a < b ? -1 : 1));
}
