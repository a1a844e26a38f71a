import type { Config } from '../config.ts';
import { errorFields } from '../errors.ts';
import type { Logger } from '../log.ts';
import { logElector } from '../log-events.ts';
import type { Metrics } from '../metrics.ts';
import { SingletonRunner } from '../singleton/runner.ts';
import type { ZkApi } from '../zookeeper/api.ts';
import { Election, type LeaderInfo } from '../zookeeper/election.ts';

/**
 * The elector role: a leader election under `<root>/election` and the configured command (Celery beat),
 * run only while this sidecar leads. Stepping down stops the command before anything else; leaving the
 * election (drain) stops it first and deletes our node after, so the next leader starts only once ours is gone.
 */
export class ElectorRole {
  readonly election: Election;
  readonly runner: SingletonRunner;
  readonly #log: Logger;
  #draining: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(zk: ZkApi, config: Config, metrics: Metrics, log: Logger) {
    const e = config.elector;
    const zkc = config.zookeeper;
    this.#log = log;
    this.election = new Election(zk, {
      dir: `${zkc.root}/election`,
      id: config.replica.id,
      sessionTimeoutMs: zkc.sessionTimeoutMs,
      disconnectFraction: e.disconnectFraction,
      retry: { baseMs: zkc.retryBaseMs, maxMs: zkc.retryMaxMs },
    });
    this.runner = new SingletonRunner({
      command: e.command ?? [],
      stopTimeoutMs: e.stopTimeoutMs,
      restart: { baseMs: e.restartBaseMs, maxMs: e.restartMaxMs },
      stableMs: e.stableMs,
      dieWithSidecar: e.dieWithSidecar,
    });
    metrics.observeElector(this.election, this.runner);
    logElector(this.election, this.runner, log);
    this.election.on('leading', ({ leading }) => {
      this.runner.setWanted(leading).catch((err: unknown) => log.error(errorFields(err), 'starting or stopping the singleton command failed'));
    });
  }

  start(): void {
    this.election.start();
  }

  /** Stops the command, then leaves the election so another sidecar takes over now; safe twice. */
  drain(): Promise<void> {
    this.#draining ??= (async () => {
      this.#log.info({ event: 'elector_drain' }, 'stopping the singleton command and leaving the election');
      await this.runner.close();
      await this.election.resign().catch((err: unknown) => this.#log.warn(errorFields(err), 'could not delete our election node; the session close will'));
    })();
    return this.#draining;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.runner.close();
      this.election.close();
    })();
    return this.#closing;
  }

  /** For /replicas: this sidecar's part in the election, from memory. */
  view(): { leading: boolean; node: string | null; leader: LeaderInfo; running: boolean; pid: number | null } {
    return { leading: this.election.leading, node: this.election.node, leader: this.election.leader, running: this.runner.running, pid: this.runner.pid };
  }

  /** For GET /leader: who leads, read from ZooKeeper now. */
  async leader(): Promise<{ leader: LeaderInfo; self: ReturnType<ElectorRole['view']> }> {
    return { leader: await this.election.readLeader(), self: this.view() };
  }
}
