import { EventEmitter } from 'node:events';
import * as zookeeper from 'node-zookeeper-client';
import { backoffDelay, sleep, type BackoffPolicy } from '../backoff.ts';
import { ErrorCode, SidecarError } from '../errors.ts';
import { aclPolicy, buildAcl, buildParentAcl, type AclEntry, type AclPolicy } from './acl.ts';
import type { ZkAuth } from './auth-schema.ts';
import { LivenessProbe } from './liveness-probe.ts';
import { toSidecarError, withDeadline } from './zk-errors.ts';
import type { NodeStat, SessionState, ZkApi, ZkEvents, ZkWatcher } from './api.ts';

export interface ZkSessionOptions {
  readonly connect: string;
  readonly sessionTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly operationTimeoutMs: number;
  readonly probeIntervalMs: number;
  readonly probeTimeoutMs: number;
  readonly retry: BackoffPolicy;
  /** Digest credentials, sent on every connection of every session; nodes we create get the ACL they imply. */
  readonly auth?: ZkAuth | undefined;
  /** The cluster's root: mkdirp gives nodes above it an ACL that lets other clusters create their roots. */
  readonly root?: string | undefined;
}

// The library's ConnectionManager is not in its type definitions. The watchdog needs its socket to drop a
// connection to a server that stopped answering; this is the only place we reach inside the library.
interface LibraryInternals {
  connectionManager?: { socket?: { destroy(): void } };
}

/**
 * One logical ZooKeeper session over node-zookeeper-client, adding what the library lacks
 * (notes/zookeeper.md): a connect timeout, a liveness watchdog, "disconnected longer than the session
 * timeout is suspect", per-operation deadlines, typed errors, and the expiry path (a new session).
 *
 * Consumers (registration, membership) react to `connected` / `session` events; they never see the library.
 */
export class ZkSession extends EventEmitter<ZkEvents> implements ZkApi {
  readonly #opts: ZkSessionOptions;
  #client: zookeeper.Client | undefined;
  #generation = 0; // bumps per library client, so callbacks from a replaced client are ignored
  #state: SessionState = { kind: 'connecting' };
  #started = false;
  #closing: Promise<void> | undefined;
  readonly #abort = new AbortController();
  #suspectTimer: NodeJS.Timeout | undefined;
  readonly #probe: LivenessProbe;
  readonly #policy: AclPolicy;
  readonly #acl: zookeeper.ACL[];
  readonly #parentAcl: zookeeper.ACL[];

  constructor(opts: ZkSessionOptions) {
    super();
    this.#opts = opts;
    this.#policy = aclPolicy(opts.auth);
    this.#acl = buildAcl(this.#policy).map(toLibraryAcl);
    this.#parentAcl = buildParentAcl(this.#policy).map(toLibraryAcl);
    this.#probe = new LivenessProbe({ intervalMs: opts.probeIntervalMs, timeoutMs: opts.probeTimeoutMs });
  }

  get state(): SessionState {
    return this.#state;
  }

  /** The ACL policy every node this session creates follows. */
  get aclPolicy(): AclPolicy {
    return this.#policy;
  }

  /** Starts establishing a session in the background; never blocks start-up on ZooKeeper. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    void this.#establish(false);
  }

  async close(): Promise<void> {
    this.#closing ??= this.#doClose();
    return this.#closing;
  }

  async #doClose(): Promise<void> {
    this.#abort.abort();
    this.#stopProbe();
    this.#clearSuspect();
    const client = this.#client;
    const wasConnected = this.#state.kind === 'connected';
    this.#generation++;
    this.#client = undefined;
    this.#setState({ kind: 'closed' });
    if (client === undefined) return;
    if (wasConnected) {
      // A clean closeSession makes the ensemble delete our ephemerals now rather than after the timeout.
      const gone = new Promise<void>((resolve) => client.once('disconnected', resolve));
      client.close();
      await Promise.race([gone, sleep(1_000).catch(() => undefined)]);
    } else {
      client.close();
    }
    dropSocket(client);
  }

  async #establish(renewed: boolean): Promise<void> {
    for (let attempt = 0; !this.#abort.signal.aborted; attempt++) {
      const gen = ++this.#generation;
      const client = zookeeper.createClient(this.#opts.connect, {
        sessionTimeout: this.#opts.sessionTimeoutMs,
        spinDelay: 500,
        retries: 0,
      });
      this.#client = client;
      // Every new library client (a new session after expiry too) must authenticate again; the library then
      // re-sends the credentials itself on each reconnection of that session.
      const auth = this.#opts.auth;
      if (auth !== undefined) client.addAuthInfo('digest', Buffer.from(`${auth.user}:${auth.secret.reveal()}`));
      this.#setState({ kind: 'connecting' });
      const connected = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), this.#opts.connectTimeoutMs);
        client.once('connected', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      this.#wire(client, gen, renewed);
      client.connect();
      if (await connected) return;
      if (gen !== this.#generation) return; // closed meanwhile
      // The library retries forever without a word when the whole ensemble is down; make that visible
      // and start over with a fresh client after a jittered pause, so a fleet does not reconnect in step.
      const delay = backoffDelay(this.#opts.retry, attempt);
      const err = new SidecarError(ErrorCode.ZK_CONNECT_TIMEOUT, 'no ZooKeeper server answered in time', {
        details: { connect: this.#opts.connect, timeoutMs: this.#opts.connectTimeoutMs, attempt: attempt + 1, retryInMs: delay },
      });
      this.emit('connectTimeout', err);
      this.#generation++;
      client.close();
      dropSocket(client);
      try {
        await sleep(delay, this.#abort.signal);
      } catch {
        return;
      }
    }
  }

  #wire(client: zookeeper.Client, gen: number, renewed: boolean): void {
    let announced = false;
    client.on('state', (state) => {
      if (gen !== this.#generation) return;
      if (state === zookeeper.State.SYNC_CONNECTED) {
        const sessionId = client.getSessionId().toString('hex');
        this.#clearSuspect();
        this.#setState({ kind: 'connected', sessionId });
        if (!announced) {
          announced = true;
          this.emit('session', { sessionId, renewed });
        }
        this.emit('connected', { sessionId, timeoutMs: client.getSessionTimeout() });
        this.#startProbe(client, gen);
      } else if (state === zookeeper.State.DISCONNECTED) {
        const prev = this.#state;
        if (prev.kind !== 'connected') return;
        this.#stopProbe();
        this.#setState({ kind: 'disconnected', sessionId: prev.sessionId, since: Date.now(), suspect: false });
        // Expiry is only reported after reconnecting; until then, past the timeout we must assume it is lost.
        this.#suspectTimer = setTimeout(() => {
          const s = this.#state;
          if (gen === this.#generation && s.kind === 'disconnected') this.#setState({ ...s, suspect: true });
        }, this.#opts.sessionTimeoutMs);
      } else if (state === zookeeper.State.EXPIRED) {
        const prev = this.#state;
        const sessionId = 'sessionId' in prev ? prev.sessionId : client.getSessionId().toString('hex');
        this.#stopProbe();
        this.#clearSuspect();
        this.#generation++;
        client.close();
        dropSocket(client);
        this.emit('expired', { sessionId });
        void this.#establish(true);
      } else if (state === zookeeper.State.AUTH_FAILED) {
        this.emit('error', new SidecarError(ErrorCode.ZK_AUTH_FAILED, 'ZooKeeper authentication failed'));
      }
    });
  }

  #setState(state: SessionState): void {
    this.#state = state;
    this.emit('state', state);
  }

  #startProbe(client: zookeeper.Client, gen: number): void {
    this.#probe.start(
      () => new Promise<void>((resolve, reject) => client.exists('/', (e) => (e ? reject(toSidecarError(e, '/')) : resolve()))),
      (r) => this.emit('probe', r),
      () => {
        // A SIGSTOPped or wedged server keeps the TCP socket open: drop it so the library moves on.
        if (gen === this.#generation && this.#state.kind === 'connected') dropSocket(client);
      },
    );
  }

  #stopProbe(): void {
    this.#probe.stop();
  }

  #clearSuspect(): void {
    if (this.#suspectTimer !== undefined) clearTimeout(this.#suspectTimer);
    this.#suspectTimer = undefined;
  }

  #call<T>(path: string, run: (client: zookeeper.Client, done: (err: unknown, value?: T) => void) => void): Promise<T> {
    const client = this.#client;
    if (client === undefined || this.#state.kind === 'closed') {
      return Promise.reject(new SidecarError(ErrorCode.ZK_SESSION_CLOSED, 'no ZooKeeper session', { details: { path } }));
    }
    const op = new Promise<T>((resolve, reject) => {
      run(client, (err, value) => (err ? reject(toSidecarError(err, path)) : resolve(value as T)));
    });
    return withDeadline(op, this.#opts.operationTimeoutMs, () =>
      new SidecarError(ErrorCode.ZK_OP_TIMEOUT, 'ZooKeeper operation timed out', {
        details: { path, timeoutMs: this.#opts.operationTimeoutMs },
      }),
    );
  }

  create(path: string, data: Buffer, mode: 'ephemeral' | 'persistent' | 'ephemeral_sequential'): Promise<string> {
    const m =
      mode === 'ephemeral' ? zookeeper.CreateMode.EPHEMERAL : mode === 'persistent' ? zookeeper.CreateMode.PERSISTENT : zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL;
    return this.#call(path, (c, done) => c.create(path, data, this.#acl, m, (e, p) => done(e, p)));
  }

  remove(path: string, version = -1): Promise<void> {
    return this.#call(path, (c, done) => c.remove(path, version, (e) => done(e)));
  }

  setData(path: string, data: Buffer, version = -1): Promise<NodeStat> {
    return this.#call(path, (c, done) => c.setData(path, data, version, (e, s) => done(e, e ? undefined : toStat(s))));
  }

  exists(path: string, watcher?: ZkWatcher): Promise<NodeStat | null> {
    const cb = (done: (err: unknown, value?: NodeStat | null) => void) => (e: unknown, s: zookeeper.Stat | undefined) => done(e, e ? undefined : s ? toStat(s) : null);
    return this.#call(path, (c, done) => (watcher === undefined ? c.exists(path, cb(done)) : c.exists(path, libraryWatcher(watcher), cb(done))));
  }

  getData(path: string, watcher?: ZkWatcher): Promise<{ data: Buffer; stat: NodeStat }> {
    type Cb = (e: Error | zookeeper.Exception | null, d: Buffer, s: zookeeper.Stat) => void;
    const cb = (done: (e: unknown, v?: { data: Buffer; stat: NodeStat }) => void): Cb =>
      (e, d, s) => done(e, e ? undefined : { data: d ?? Buffer.alloc(0), stat: toStat(s) });
    return this.#call(path, (c, done) =>
      watcher === undefined ? c.getData(path, cb(done)) : c.getData(path, libraryWatcher(watcher), cb(done)),
    );
  }

  getACL(path: string): Promise<{ acl: AclEntry[]; aversion: number }> {
    return this.#call(path, (c, done) =>
      c.getACL(path, (e, acls, s) => done(e, e ? undefined : { acl: acls.map(fromLibraryAcl), aversion: (s as zookeeper.Stat & { aversion: number }).aversion })),
    );
  }

  /** Replaces a node's ACL; `aversion` (the ACL's version, -1 for any) makes it a compare-and-set. */
  setACL(path: string, acl: readonly AclEntry[], aversion = -1): Promise<void> {
    return this.#call(path, (c, done) => c.setACL(path, acl.map(toLibraryAcl), aversion, (e) => done(e)));
  }

  getChildren(path: string, watcher?: ZkWatcher): Promise<string[]> {
    return this.#call(path, (c, done) =>
      watcher === undefined
        ? c.getChildren(path, (e, children) => done(e, children))
        : c.getChildren(path, libraryWatcher(watcher), (e, children) => done(e, children)),
    );
  }

  /**
   * Creates `path` and its missing parents, each with the ACL it should carry (the library's mkdirp gives every
   * level the same ACL). Looks before creating: on a parent we may not create in, create answers NoAuth even
   * when the node exists.
   */
  async mkdirp(path: string): Promise<void> {
    const root = this.#opts.root;
    const segments = path.split('/').filter((x) => x !== '');
    for (let i = 1; i <= segments.length; i++) {
      const p = `/${segments.slice(0, i).join('/')}`;
      if ((await this.exists(p)) !== null) continue;
      const acl = root !== undefined && root.startsWith(`${p}/`) ? this.#parentAcl : this.#acl;
      try {
        await this.#call(p, (c, done) => c.create(p, Buffer.alloc(0), acl, zookeeper.CreateMode.PERSISTENT, (e) => done(e)));
      } catch (err) {
        if (!(err instanceof SidecarError && err.code === ErrorCode.ZK_NODE_EXISTS)) throw err;
      }
    }
  }
}

// The library de-duplicates watchers by function identity; hand it the same function for the same watcher
// so re-reading after a reconnect does not stack up copies that each fire on the next event.
const libraryWatchers = new WeakMap<ZkWatcher, (ev: zookeeper.Event) => void>();
function libraryWatcher(watcher: ZkWatcher): (ev: zookeeper.Event) => void {
  let fn = libraryWatchers.get(watcher);
  if (fn === undefined) {
    fn = (ev) => watcher({ type: ev.getName(), path: ev.getPath() });
    libraryWatchers.set(watcher, fn);
  }
  return fn;
}

function toLibraryAcl(a: AclEntry): zookeeper.ACL {
  return new zookeeper.ACL(a.perms, new zookeeper.Id(a.scheme, a.id));
}

function fromLibraryAcl(a: zookeeper.ACL): AclEntry {
  // The type definitions call the field `perms`; the library's ACL object names it `permission`.
  return { perms: (a as unknown as { permission: number }).permission, scheme: a.id.scheme, id: a.id.id };
}

function toStat(s: zookeeper.Stat): NodeStat {
  return { version: s.version, ephemeralOwner: s.ephemeralOwner.toString('hex'), dataLength: s.dataLength, czxid: s.czxid.toString('hex') };
}

function dropSocket(client: zookeeper.Client): void {
  (client as unknown as LibraryInternals).connectionManager?.socket?.destroy();
}
