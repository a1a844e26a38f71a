import { z } from 'zod';
import { parseCidr } from './proxy/trusted-proxies.ts';
import { ruleProblem } from './routing/allowed-upstreams.ts';
import { zkAuthSchema } from './zookeeper/auth-schema.ts';

// The sidecar's configuration schema. Validation, defaults and limits live here; config.ts reads files and
// the environment and turns a parse into a frozen Config.

// Environment values are strings; accept "4000" / "true" for numeric and boolean fields, nothing looser
// (z.coerce would turn "" into 0).
const int = (min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v),
    z.number().int().min(min).max(max),
  );
const num = (min: number, max: number) =>
  z.preprocess((v) => (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : v), z.number().min(min).max(max));
const bool = () => z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });
// A replica's URL is published in its znode and in every router's /replicas: never with credentials in it.
export const replicaUrl = httpUrl.refine((v) => !/^https?:\/\/[^/?#]*@/i.test(v), { error: 'must not contain user:password@ (it is published to every router)' });
// proxy.trustedProxies: "10.0.0.0/8", "fd00::/8" or a single address.
const cidr = z.string().refine((v) => parseCidr(v) !== undefined, { error: 'must be an IP address or a CIDR like 10.0.0.0/8' });
const dbUrl = z
  .string()
  .refine((v) => /^(postgres|postgresql|mysql):\/\/[^/]+/.test(v) && URL.canParse(v), {
    error: 'must be a postgresql://, postgres:// or mysql:// URL',
  });
// Znode names: one path segment, no surprises in URLs or logs.
// Also the znode name and payload id of a replica (zookeeper/payload.ts).
export const replicaId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be 1-128 of [A-Za-z0-9._-], not starting with . _ or -');
const zkPath = z.string().regex(/^(\/[A-Za-z0-9._-]+)+$/, 'must be an absolute ZooKeeper path like /superset-ha/prod');
const zkConnect = z
  .string()
  .regex(/^[A-Za-z0-9.-]+:\d{1,5}(,[A-Za-z0-9.-]+:\d{1,5})*$/, 'must be host:port[,host:port...] (no chroot)');

export const schema = z.strictObject({
  cluster: replicaId.default('default'),
  roles: z
    .strictObject({ registrar: bool().default(true), router: bool().default(true), elector: bool().default(false) })
    .prefault({}),
  zookeeper: z.strictObject({
    connect: zkConnect,
    root: zkPath.optional(),
    sessionTimeoutMs: int(2000, 120_000).default(10_000),
    connectTimeoutMs: int(500, 120_000).default(5_000),
    operationTimeoutMs: int(100, 120_000).default(5_000),
    probeIntervalMs: int(100, 60_000).default(1_000),
    probeTimeoutMs: int(100, 60_000).default(1_500),
    registerJitterMs: int(0, 60_000).default(1_000),
    /**
     * After an outage of ZooKeeper, replicas whose znodes are missing stay routable this long while their
     * registrars re-register. Unset: sessionTimeoutMs + registerJitterMs (the resumed ensemble expires the
     * sessions it lost within about a session timeout; the registrars re-register within their jitter).
     */
    settleMs: int(0, 600_000).optional(),
    retryBaseMs: int(10, 60_000).default(250),
    retryMaxMs: int(10, 600_000).default(10_000),
    /** A router re-reads the live set after a reconnect or a new session within a random pause up to this long, so a fleet does not re-read in lockstep. */
    rereadJitterMs: int(0, 60_000).default(500),
    /** Digest authentication and the ACLs of the coordination nodes (zookeeper/auth-schema.ts). Unset: open. */
    auth: zkAuthSchema.optional(),
  }),
  replica: z.strictObject({
    id: replicaId,
    url: replicaUrl,
    zone: z.string().min(1).max(64).default('default'),
    weight: int(1, 1000).default(100),
  }),
  superset: z
    .strictObject({
      url: httpUrl.optional(),
      healthPath: z.string().startsWith('/').default('/health'),
    })
    .prefault({}),
  metadataDb: z.strictObject({ url: dbUrl }).optional(),
  health: z
    .strictObject({
      intervalMs: int(100, 600_000).default(2_000),
      /**
       * While the verdict is in transition (a check failed but not yet `fall` in a row, or passed but not yet
       * `rise`), the next round comes this soon instead (HAProxy's fastinter): a hung replica is then found
       * in about fall × timeoutMs after its first failed check, not fall × intervalMs.
       */
      fastIntervalMs: int(0, 600_000).default(250),
      timeoutMs: int(50, 600_000).default(1_500),
      rise: int(1, 100).default(2),
      fall: int(1, 100).default(3),
    })
    .prefault({}),
  admin: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: int(0, 65535).default(9090),
      drainToken: z.string().min(16, 'must be at least 16 characters').optional(),
    })
    .prefault({}),
  proxy: z
    .strictObject({
      host: z.string().default('0.0.0.0'),
      port: int(0, 65535).default(8080),
      /** Send to this sidecar's own replica while it is live; other replicas only on failure. */
      preferLocal: bool().default(true),
      /**
       * The local preference yields while the local replica answers this many times slower than the other
       * replicas (or than its own usual), so a degraded pod does not degrade every user it fronts. 0: never.
       */
      localYieldFactor: num(0, 1000).default(3),
      /**
       * A replica that joins an established set, or comes back (ejection over, found healthy again), gets a
       * share of traffic that ramps from 10 % to its weight over this long: a Superset replica that just
       * booted has cold caches (HAProxy's slowstart, Envoy's slow start mode). 0: off.
       */
      slowStartMs: int(0, 3_600_000).default(10_000),
      connectionsPerReplica: int(1, 10_000).default(256),
      connectTimeoutMs: int(50, 60_000).default(1_000),
      // Superset queries can legitimately take long; a hung replica is also caught by health checks.
      headersTimeoutMs: int(100, 3_600_000).default(60_000),
      bodyTimeoutMs: int(100, 3_600_000).default(60_000),
      // Below gunicorn's default keepalive (2 s), so we never write onto a socket it is closing.
      upstreamKeepAliveMs: int(100, 600_000).default(1_000),
      clientKeepAliveMs: int(1_000, 600_000).default(65_000),
      maxReplayBodyBytes: int(0, 64 * 1024 * 1024).default(1024 * 1024),
      // A replica killed while it writes a response would otherwise cut the client off mid-body.
      holdResponseBytes: int(0, 64 * 1024 * 1024).default(256 * 1024),
      retryAfterS: int(1, 3600).default(5),
      /**
       * Request line plus headers. Superset's explore and dashboard permalinks carry long query strings and
       * gunicorn accepts any request line (--limit-request-line 0); Node's own default is 16 KiB.
       */
      maxHeaderBytes: int(8 * 1024, 1024 * 1024).default(64 * 1024),
      /**
       * Hedged requests (backup requests): a request of one of `routes` with no response after `delayMs` (or
       * after `percentile` of recent response times, floored at delayMs) is also sent to a second replica;
       * the first complete answer wins and the other is cancelled. Hedges share the retry budget. Off by
       * default; `read-query` re-runs a warehouse query, so hedge it only if the warehouse can take it.
       */
      hedge: z
        .strictObject({
          routes: z.array(z.enum(['idempotent', 'read-query'])).default([]),
          delayMs: int(1, 600_000).default(1_000),
          percentile: num(1, 99.9).optional(),
        })
        .prefault({}),
      /**
       * Peers (the ingress) whose X-Forwarded-Proto/-Host/-Port/-Prefix, Forwarded and X-Real-IP are passed on;
       * from any other peer they are replaced by what the sidecar saw. Default: nobody.
       */
      trustedProxies: z.array(cidr).default([]),
      /** A request body must arrive within this long (0: no limit)... */
      clientBodyTimeoutMs: int(0, 3_600_000).default(30_000),
      /** ...plus one second per this many bytes received: a body slower than this is cut off with 408. */
      clientBodyMinBytesPerSec: int(0, 1024 * 1024 * 1024).default(500),
      /**
       * CIDRs, IP addresses or host patterns (host.example.com, *.example.com) a replica URL read from ZooKeeper
       * must match to be routed to. Unset: any. A comma-separated string is accepted (environment overrides).
       */
      allowedUpstreams: z
        .preprocess((v) => (typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter((x) => x !== '') : v), z.array(z.string()).min(1))
        .superRefine((rules, ctx) => {
          for (const [i, r] of rules.entries()) {
            const problem = ruleProblem(r);
            if (problem !== undefined) ctx.addIssue({ code: 'custom', path: [i], message: problem });
          }
        })
        .optional(),
      retry: z
        .strictObject({
          maxAttempts: int(1, 10).default(3),
          baseMs: int(0, 60_000).default(25),
          maxMs: int(0, 60_000).default(250),
          budgetRatio: num(0, 10).default(0.2),
          budgetMinPerSec: num(0, 10_000).default(5),
          budgetWindowMs: int(1_000, 600_000).default(10_000),
        })
        .prefault({}),
      outlier: z
        .strictObject({
          consecutiveFailures: int(1, 1000).default(5),
          baseEjectionMs: int(100, 600_000).default(5_000),
          maxEjectionMs: int(100, 3_600_000).default(60_000),
          maxEjectedPercent: int(0, 100).default(50),
        })
        .prefault({}),
    })
    .prefault({}),
  shutdown: z
    .strictObject({
      /** After deregistering, keep serving this long so load balancers notice readiness is gone. */
      drainDelayMs: int(0, 600_000).default(5_000),
      /** Then stop accepting and give in-flight requests this long to finish. */
      drainTimeoutMs: int(0, 600_000).default(10_000),
      /**
       * The replica's znode is marked `draining` this long before it is deleted, so routers let requests in
       * flight there finish rather than moving them as from a failed replica.
       */
      drainAnnounceMs: int(0, 60_000).default(300),
    })
    .prefault({}),
  log: z
    .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
    .prefault({}),
  /** The elector role: runs `command` (e.g. Celery beat) only while this sidecar leads the election. */
  elector: z
    .strictObject({
      command: z.array(z.string().min(1)).min(1).optional(),
      /** SIGTERM to the command's process group, then SIGKILL after this long. */
      stopTimeoutMs: int(100, 600_000).default(3_000),
      /** Step down once the last contact with ZooKeeper is this fraction of the session timeout ago. */
      disconnectFraction: num(0.05, 0.9).default(0.5),
      restartBaseMs: int(10, 600_000).default(1_000),
      restartMaxMs: int(10, 3_600_000).default(30_000),
      /** A command that ran this long restarts from restartBaseMs again after its next exit. */
      stableMs: int(0, 3_600_000).default(60_000),
      /** Run it under `setpriv --pdeathsig KILL` so it dies with a SIGKILLed sidecar. */
      dieWithSidecar: bool().default(true),
    })
    .prefault({}),
  /** Checks beside Superset and the metadata DB: Redis (PING) and analytics data sources (SELECT 1). */
  dependencies: z
    .array(
      z.strictObject({
        name: z
          .string()
          .regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be 1-63 of [a-z0-9_], starting with a letter')
          .refine((n) => !['superset', 'metadata_db', 'replica'].includes(n), { error: 'is a built-in check name' }),
        url: z.string().refine((v) => /^(rediss?|postgres|postgresql|mysql):\/\/[^/]+/.test(v) && URL.canParse(v), {
          error: 'must be a redis://, rediss://, postgresql://, postgres:// or mysql:// URL',
        }),
        mode: z.enum(['required', 'advisory']).default('advisory'),
      }),
    )
    .refine((deps) => new Set(deps.map((d) => d.name)).size === deps.length, { error: 'names must be unique' })
    .default([]),
});
