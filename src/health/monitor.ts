import { EventEmitter } from 'node:events';
import type { SidecarError } from '../errors.ts';
import { ErrorCode, toSidecarError } from '../errors.ts';
import type { HealthCheck } from './check.ts';

export type HealthState =
  | { kind: 'starting' }
  | { kind: 'healthy'; since: number }
  | { kind: 'unhealthy'; since: number; failing: readonly string[]; codes: readonly string[] };

export interface CheckResult {
  readonly check: string;
  readonly ok: boolean;
  readonly ms: number;
  readonly advisory?: boolean;
  readonly error?: SidecarError;
}

export interface MonitorEvents {
  change: [{ state: HealthState; previous: HealthState }];
  result: [CheckResult];
}

export interface MonitorOptions {
  readonly intervalMs: number;
  /** The round interval while the verdict is in transition (HAProxy's fastinter); at most intervalMs. */
  readonly fastIntervalMs?: number;
  readonly timeoutMs: number;
  /** Consecutive all-pass rounds before healthy. */
  readonly rise: number;
  /** Consecutive rounds with a failure before unhealthy. */
  readonly fall: number;
}

/**
 * Runs every check each interval (never overlapping rounds) and turns the verdicts into a state with
 * rise/fall hysteresis, so one slow probe does not deregister a replica and one lucky one does not add it.
 */
export class HealthMonitor extends EventEmitter<MonitorEvents> {
  readonly #checks: readonly HealthCheck[];
  readonly #opts: MonitorOptions;
  #state: HealthState = { kind: 'starting' };
  #passes = 0;
  #fails = 0;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #running = false;
  readonly #last = new Map<string, CheckResult & { at: number }>();

  constructor(checks: readonly HealthCheck[], opts: MonitorOptions) {
    super();
    this.#checks = checks;
    this.#opts = opts;
  }

  get state(): HealthState {
    return this.#state;
  }

  /** The latest result of every check, for /replicas (advisory ones are how "warehouse down" shows). */
  get results(): (CheckResult & { at: number })[] {
    return [...this.#last.values()];
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(0);
  }

  async close(): Promise<void> {
    this.#running = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#round;
    await Promise.all(this.#checks.map((c) => c.close()));
  }

  /** One round of all checks; exposed for tests and for an immediate re-check. */
  async runRound(): Promise<void> {
    const results = await Promise.all(this.#checks.map((c) => this.#runCheck(c)));
    const failed = results.filter((r) => !r.ok && r.advisory !== true);
    if (failed.length === 0) {
      this.#passes++;
      this.#fails = 0;
      if (this.#state.kind !== 'healthy' && this.#passes >= this.#opts.rise) this.#transition({ kind: 'healthy', since: Date.now() });
    } else {
      this.#fails++;
      this.#passes = 0;
      if (this.#state.kind !== 'unhealthy' && this.#fails >= this.#opts.fall) {
        this.#transition({
          kind: 'unhealthy',
          since: Date.now(),
          failing: failed.map((r) => r.check),
          codes: failed.map((r) => r.error?.code ?? 'unknown'),
        });
      }
    }
  }

  async #runCheck(check: HealthCheck): Promise<CheckResult> {
    const started = performance.now();
    let result: CheckResult;
    try {
      await check.run(AbortSignal.timeout(this.#opts.timeoutMs));
      result = { check: check.name, ok: true, ms: performance.now() - started, ...(check.advisory ? { advisory: true } : {}) };
    } catch (err) {
      const error = toSidecarError(err, ErrorCode.HEALTH_CHECK_FAILED, 'health check threw');
      result = { check: check.name, ok: false, ms: performance.now() - started, error, ...(check.advisory ? { advisory: true } : {}) };
    }
    this.#last.set(result.check, { ...result, at: Date.now() });
    this.emit('result', result);
    return result;
  }

  #transition(state: HealthState): void {
    const previous = this.#state;
    this.#state = state;
    this.emit('change', { state, previous });
  }

  /** A streak that may change the verdict is confirmed quickly: a hung replica is found within about fall × timeoutMs. */
  #nextIntervalMs(): number {
    const { intervalMs, fastIntervalMs } = this.#opts;
    if (fastIntervalMs === undefined) return intervalMs;
    const transition = (this.#fails > 0 && this.#state.kind !== 'unhealthy') || (this.#passes > 0 && this.#state.kind !== 'healthy');
    return transition ? Math.min(fastIntervalMs, intervalMs) : intervalMs;
  }

  #schedule(delayMs: number): void {
    if (!this.#running) return;
    this.#timer = setTimeout(() => {
      const started = Date.now();
      this.#round = this.runRound().finally(() => {
        this.#round = undefined;
        this.#schedule(Math.max(0, this.#nextIntervalMs() - (Date.now() - started)));
      });
    }, delayMs);
  }
}
