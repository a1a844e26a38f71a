import { ErrorCode, SidecarError, isSidecarError } from '../errors.ts';
import { withDeadline } from './zk-errors.ts';

export interface ProbeResult {
  readonly ok: boolean;
  readonly ms: number;
  readonly error?: SidecarError;
}

/**
 * The session's liveness watchdog. node-zookeeper-client never notices a server that stops answering but
 * keeps its socket open (a SIGSTOPped or wedged server; notes/zookeeper.md): every `intervalMs` this runs
 * `probe` with a deadline, and on a miss calls `onMiss` so the session can drop the connection and move on.
 * One probe at a time; a new start() replaces the previous one.
 */
export class LivenessProbe {
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  #timer: NodeJS.Timeout | undefined;
  #inFlight = false;
  #run = 0; // bumps per start/stop, so a late answer from an older run is ignored

  constructor(opts: { intervalMs: number; timeoutMs: number }) {
    this.#intervalMs = opts.intervalMs;
    this.#timeoutMs = opts.timeoutMs;
  }

  start(probe: () => Promise<void>, onResult: (r: ProbeResult) => void, onMiss: () => void): void {
    this.stop();
    const run = this.#run;
    this.#timer = setInterval(() => {
      if (this.#inFlight) return;
      this.#inFlight = true;
      const started = Date.now();
      withDeadline(probe(), this.#timeoutMs, () =>
        new SidecarError(ErrorCode.ZK_PROBE_TIMEOUT, 'ZooKeeper server did not answer the liveness probe', { details: { timeoutMs: this.#timeoutMs } }),
      )
        .then(
          () => {
            if (run === this.#run) onResult({ ok: true, ms: Date.now() - started });
          },
          (err: unknown) => {
            // Other errors (connection loss) are the library's own news; only silence is ours to act on.
            if (run !== this.#run || !isSidecarError(err, ErrorCode.ZK_PROBE_TIMEOUT)) return;
            onResult({ ok: false, ms: Date.now() - started, error: err });
            onMiss();
          },
        )
        .finally(() => {
          if (run === this.#run) this.#inFlight = false;
        });
    }, this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#inFlight = false;
    this.#run++;
  }
}
