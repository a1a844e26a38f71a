import { ErrorCode, SidecarError } from '../errors.ts';
import { redactUrl } from '../config.ts';
import type { HealthCheck } from './check.ts';

/**
 * The drivers' own timeouts are a backstop, set a little past the check's deadline: with equal timers the
 * driver sometimes fired first and a hung database was reported as a failed query instead of a timeout.
 */
const DRIVER_SLACK_MS = 250;

/** What a SQL driver must offer the metadata DB check. One connection, kept between checks. */
export interface SqlDriver<C> {
  connect(url: string, timeoutMs: number): Promise<C>;
  /** Runs `SELECT 1`; must reject (not hang) within about `timeoutMs`. */
  ping(conn: C, timeoutMs: number): Promise<void>;
  /** Tears the connection down at once, without a graceful handshake (the server may be hung). */
  destroy(conn: C): void;
  /** Whether the error says the credentials were refused (retrying will not help). */
  isAuthError(err: unknown): boolean;
}

/**
 * Superset's /health does not touch its metadata database (notes/superset.md), so a replica whose DB is
 * gone still says OK. This check runs a real `SELECT 1` over a reused connection, replaced when broken.
 */
export class MetadataDbCheck<C> implements HealthCheck {
  readonly name: string;
  readonly advisory: boolean;
  readonly #url: string;
  readonly #driver: SqlDriver<C>;
  readonly #timeoutMs: number;
  readonly #what: string;
  #conn: C | undefined;

  /** `name`/`what`: the same check serves analytics data sources (dependencies), named after them. */
  constructor(url: string, driver: SqlDriver<C>, timeoutMs: number, opts: { name?: string; what?: string; advisory?: boolean } = {}) {
    this.#url = url;
    this.#driver = driver;
    this.#timeoutMs = timeoutMs;
    this.name = opts.name ?? 'metadata_db';
    this.#what = opts.what ?? 'the metadata DB';
    this.advisory = opts.advisory ?? false;
  }

  async run(signal: AbortSignal): Promise<void> {
    const started = Date.now();
    const aborted = new Promise<never>((_, reject) => {
      const onAbort = () => reject(new SidecarError(ErrorCode.HEALTH_TIMEOUT, `${this.name} check timed out`, { details: this.#details() }));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => undefined); // handled by the race below; silence the unhandled path
    let phase: 'connect' | 'query' = 'connect';
    try {
      if (this.#conn === undefined) {
        const connecting = this.#driver.connect(this.#url, this.#timeoutMs + DRIVER_SLACK_MS);
        try {
          this.#conn = await Promise.race([connecting, aborted]);
        } catch (err) {
          // The deadline won the race: a connection that still completes later must not leak.
          connecting.then((late) => this.#driver.destroy(late), () => undefined);
          throw err;
        }
      }
      phase = 'query';
      const left = Math.max(1, this.#timeoutMs - (Date.now() - started));
      await Promise.race([this.#driver.ping(this.#conn, left + DRIVER_SLACK_MS), aborted]);
    } catch (err) {
      this.#discard();
      if (err instanceof SidecarError) throw err;
      if (this.#driver.isAuthError(err)) {
        throw new SidecarError(ErrorCode.HEALTH_DB_AUTH, `${this.#what} refused the credentials`, { cause: err, details: this.#details() });
      }
      throw new SidecarError(
        phase === 'connect' ? ErrorCode.HEALTH_DB_UNREACHABLE : ErrorCode.HEALTH_DB_QUERY,
        phase === 'connect' ? `cannot connect to ${this.#what}` : `SELECT 1 on ${this.#what} failed`,
        { cause: err, details: this.#details() },
      );
    }
  }

  async close(): Promise<void> {
    this.#discard();
    return Promise.resolve();
  }

  #discard(): void {
    if (this.#conn !== undefined) this.#driver.destroy(this.#conn);
    this.#conn = undefined;
  }

  #details(): Record<string, unknown> {
    return { check: this.name, db: redactUrl(this.#url) };
  }
}

export function createMetadataDbCheck(url: string, timeoutMs: number, opts: { name?: string; what?: string; advisory?: boolean } = {}): HealthCheck {
  const scheme = new URL(url).protocol;
  // Loaded on first use: pg and mysql2 cost 10 and 24 MiB of RSS at import, and a router-only sidecar, or
  // a registrar without this check, never needs them.
  return scheme === 'mysql:'
    ? new MetadataDbCheck(url, new LazyDriver(async () => (await import('./mysql-driver.ts')).mysqlDriver), timeoutMs, opts)
    : new MetadataDbCheck(url, new LazyDriver(async () => (await import('./postgres-driver.ts')).postgresDriver), timeoutMs, opts);
}

/** A SqlDriver whose module is imported on the first connect. */
class LazyDriver<C> implements SqlDriver<C> {
  readonly #load: () => Promise<SqlDriver<C>>;
  #driver: SqlDriver<C> | undefined;

  constructor(load: () => Promise<SqlDriver<C>>) {
    this.#load = load;
  }

  async connect(url: string, timeoutMs: number): Promise<C> {
    this.#driver ??= await this.#load();
    return this.#driver.connect(url, timeoutMs);
  }

  // The methods below get a connection or a connect error: the driver is loaded by then (a failed import
  // is no credentials problem).
  ping(conn: C, timeoutMs: number): Promise<void> {
    return this.#driver!.ping(conn, timeoutMs);
  }

  destroy(conn: C): void {
    this.#driver?.destroy(conn);
  }

  isAuthError(err: unknown): boolean {
    return this.#driver?.isAuthError(err) ?? false;
  }
}
