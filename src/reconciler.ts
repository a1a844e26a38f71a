import { backoffDelay, type BackoffPolicy } from './backoff.ts';

/**
 * Runs one idempotent task serially: triggers that arrive while it runs are coalesced into one more run,
 * and a failed run is retried after a jittered backoff until a run succeeds, a new trigger arrives, or
 * close() is called. Registration and membership both converge on ZooKeeper's state this way.
 */
export class Reconciler {
  readonly #task: () => Promise<void>;
  readonly #retry: BackoffPolicy;
  readonly #onError: (err: unknown, retryInMs: number) => void;
  #running: Promise<void> | undefined;
  #dirty = false;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(task: () => Promise<void>, retry: BackoffPolicy, onError: (err: unknown, retryInMs: number) => void) {
    this.#task = task;
    this.#retry = retry;
    this.#onError = onError;
  }

  /** Ask for a run now, or after `delayMs` (replacing any pending retry). */
  kick(delayMs = 0): void {
    if (this.#closed) return;
    if (delayMs > 0) {
      this.#schedule(delayMs);
      return;
    }
    this.#clearTimer();
    this.#dirty = true;
    this.#running ??= this.#loop();
  }

  /** Resolves when no run is in flight (for drain and tests). */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  close(): void {
    this.#closed = true;
    this.#clearTimer();
  }

  async #loop(): Promise<void> {
    try {
      while (this.#dirty && !this.#closed) {
        this.#dirty = false;
        try {
          await this.#task();
          this.#failures = 0;
        } catch (err) {
          const delay = backoffDelay(this.#retry, this.#failures++);
          this.#onError(err, delay);
          if (!this.#dirty) this.#schedule(Math.max(delay, 1));
        }
      }
    } finally {
      this.#running = undefined;
    }
  }

  #schedule(ms: number): void {
    this.#clearTimer();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.kick();
    }, ms);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
