import type { EventEmitter } from 'node:events';
import type { SidecarError } from '../errors.ts';

/** Where our session stands. `suspect`: disconnected longer than the session timeout, so it may be gone. */
export type SessionState =
  | { kind: 'connecting' }
  | { kind: 'connected'; sessionId: string }
  | { kind: 'disconnected'; sessionId: string; since: number; suspect: boolean }
  | { kind: 'closed' };

export interface NodeStat {
  readonly version: number;
  /** Hex session id of an ephemeral node's owner; all zeros for persistent nodes. */
  readonly ephemeralOwner: string;
  readonly dataLength: number;
  /** Hex zxid of the transaction that created the node: a node deleted and created again gets a new one. */
  readonly czxid: string;
}

export interface WatchEvent {
  readonly type: string;
  readonly path: string;
}
export type ZkWatcher = (event: WatchEvent) => void;

export interface ZkEvents {
  state: [SessionState];
  /** A session was established; `renewed` when it replaces an expired one (ephemerals must be re-created). */
  session: [{ sessionId: string; renewed: boolean }];
  /**
   * Every (re)connection, including to another server with the same session. `timeoutMs`: the session timeout
   * the ensemble negotiated (it may differ from the one asked for).
   */
  connected: [{ sessionId: string; timeoutMs?: number }];
  expired: [{ sessionId: string }];
  connectTimeout: [SidecarError];
  probe: [{ ok: boolean; ms: number; error?: SidecarError }];
  error: [SidecarError];
}

/** The narrow surface registration and membership use; tests may supply their own. */
export interface ZkApi extends EventEmitter<ZkEvents> {
  readonly state: SessionState;
  /** Resolves to the created path (with the sequence suffix for 'ephemeral_sequential'). */
  create(path: string, data: Buffer, mode: 'ephemeral' | 'persistent' | 'ephemeral_sequential'): Promise<string>;
  remove(path: string, version?: number): Promise<void>;
  setData(path: string, data: Buffer, version?: number): Promise<NodeStat>;
  /** With a watcher: fires once when the node is created, deleted or changed (election watches its predecessor). */
  exists(path: string, watcher?: ZkWatcher): Promise<NodeStat | null>;
  /** With a watcher: a one-shot data watch (fires on the node's next data change or deletion). */
  getData(path: string, watcher?: ZkWatcher): Promise<{ data: Buffer; stat: NodeStat }>;
  getChildren(path: string, watcher?: ZkWatcher): Promise<string[]>;
  mkdirp(path: string): Promise<void>;
}
