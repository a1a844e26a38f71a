import type { Redis } from 'ioredis';
import { redactUrl } from '../config.ts';
import { ErrorCode, SidecarError } from '../errors.ts';
import type { HealthCheck } from './check.ts';

/**
 * `PING` to a Redis that Superset depends on (cache, Celery broker, results backend), over one kept
 * connection that is dropped and made again after any failure. ioredis is imported on the first check, so
 * a process that checks no Redis (a router-only sidecar) never loads it. Its own retrying and offline queue are
 * off: a health check must see the failure now, not a command parked until Redis comes back.
 */
export class RedisCheck implements HealthCheck {
  readonly name: string;
  readonly advisory: boolean;
  readonly #url: string;
  readonly #timeoutMs: number;
  #client: Redis | undefined;

  constructor(name: string, url: string, timeoutMs: number, advisory: boolean) {
    this.name = name;
    this.#url = url;
    this.#timeoutMs = timeoutMs;
    this.advisory = advisory;
  }

  async run(signal: AbortSignal): Promise<void> {
    const aborted = new Promise<never>((_, reject) => {
      const onAbort = () => reject(new SidecarError(ErrorCode.HEALTH_TIMEOUT, `${this.name} check timed out`, { details: this.#details() }));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => undefined); // handled by the races below
    let phase: 'connect' | 'ping' = 'connect';
    try {
      // A kept connection that Redis closed (restart, idle kill) is not retried by ioredis here: start afresh,
      // so a Redis that is down reads as unreachable rather than as a failed command.
      if (this.#client !== undefined && this.#client.status !== 'ready') this.#discard();
      if (this.#client === undefined) {
        const { Redis } = await import('ioredis');
        const client = new Redis(this.#url, {
          lazyConnect: true,
          connectTimeout: this.#timeoutMs,
          commandTimeout: this.#timeoutMs,
          maxRetriesPerRequest: 0,
          enableOfflineQueue: false,
          enableReadyCheck: false,
          retryStrategy: () => null,
          connectionName: 'superset-ha-health',
        });
        // A kept connection can fail between checks; without a listener that would crash the process.
        client.on('error', () => undefined);
        this.#client = client;
        await Promise.race([client.connect(), aborted]);
      }
      phase = 'ping';
      const answer = await Promise.race([this.#client.ping(), aborted]);
      if (answer !== 'PONG') throw new Error(`unexpected PING answer ${String(answer).slice(0, 40)}`);
    } catch (err) {
      this.#discard();
      if (err instanceof SidecarError) throw err;
      const text = err instanceof Error ? err.message : String(err);
      if (/^(NOAUTH|WRONGPASS)/.test(text)) {
        throw new SidecarError(ErrorCode.HEALTH_REDIS_AUTH, `${this.name}: Redis refused the credentials`, { cause: err, details: this.#details() });
      }
      throw new SidecarError(
        phase === 'connect' ? ErrorCode.HEALTH_REDIS_UNREACHABLE : ErrorCode.HEALTH_REDIS_COMMAND,
        phase === 'connect' ? `${this.name}: cannot connect to Redis` : `${this.name}: PING failed`,
        { cause: err, details: this.#details() },
      );
    }
  }

  close(): Promise<void> {
    this.#discard();
    return Promise.resolve();
  }

  #discard(): void {
    this.#client?.disconnect(false);
    this.#client = undefined;
  }

  #details(): Record<string, unknown> {
    return { check: this.name, url: redactUrl(this.#url) };
  }
}
