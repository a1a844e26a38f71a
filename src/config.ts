import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ErrorCode, SidecarError } from './errors.ts';

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
const dbUrl = z
  .string()
  .refine((v) => /^(postgres|postgresql|mysql):\/\/[^/]+/.test(v) && URL.canParse(v), {
    error: 'must be a postgresql://, postgres:// or mysql:// URL',
  });
// Znode names: one path segment, no surprises in URLs or logs.
const replicaId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be 1-128 of [A-Za-z0-9._-], not starting with . _ or -');
const zkPath = z.string().regex(/^(\/[A-Za-z0-9._-]+)+$/, 'must be an absolute ZooKeeper path like /superset-ha/prod');
const zkConnect = z
  .string()
  .regex(/^[A-Za-z0-9.-]+:\d{1,5}(,[A-Za-z0-9.-]+:\d{1,5})*$/, 'must be host:port[,host:port...] (no chroot)');

const schema = z.strictObject({
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
    retryBaseMs: int(10, 60_000).default(250),
    retryMaxMs: int(10, 600_000).default(10_000),
  }),
  replica: z.strictObject({
    id: replicaId,
    url: httpUrl,
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
    })
    .prefault({}),
  log: z
    .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
    .prefault({}),
});

type Parsed = z.infer<typeof schema>;
export type Config = Readonly<
  Omit<Parsed, 'zookeeper' | 'superset'> & {
    zookeeper: Parsed['zookeeper'] & { root: string };
    superset: Parsed['superset'] & { url: string };
  }
>;

/** Validates a plain object (file contents merged with env overrides) into a frozen Config. */
export function parseConfig(input: unknown): Config {
  const result = schema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new SidecarError(ErrorCode.CONFIG_INVALID, `invalid config:\n  ${problems.join('\n  ')}`, {
      details: { problems },
    });
  }
  const c = result.data;
  if (c.health.timeoutMs > c.health.intervalMs) {
    throw new SidecarError(ErrorCode.CONFIG_INVALID, 'invalid config:\n  health.timeoutMs: must not exceed health.intervalMs', {
      details: { problems: ['health.timeoutMs: must not exceed health.intervalMs'] },
    });
  }
  return deepFreeze({
    ...c,
    zookeeper: { ...c.zookeeper, root: c.zookeeper.root ?? `/superset-ha/${c.cluster}` },
    superset: { ...c.superset, url: c.superset.url ?? c.replica.url },
  });
}

/**
 * Environment overrides: SHA_<SECTION>__<FIELD>=value, e.g. SHA_ZOOKEEPER__CONNECT, SHA_REPLICA__ID, or
 * SHA_CLUSTER. Field names are matched case-insensitively against the schema's camelCase keys. Variables
 * whose first segment is not a config section (SHA_RUN_DIR, SHA_PG_PORT, ... used by the scripts) are not
 * config; a typo inside a known section is, and fails validation like one in the file.
 */
export function envOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const sections = new Set(Object.keys(schema.shape).map((k) => k.toLowerCase()));
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith('SHA_') || value === undefined) continue;
    const path = key.slice(4).split('__').map((s) => s.toLowerCase());
    if (!sections.has(path[0]!)) continue;
    let node = out;
    let shape: unknown = schema.shape;
    path.forEach((segment, i) => {
      const name = findKey(shape, segment);
      if (i === path.length - 1) node[name] = value;
      else {
        node = (node[name] ??= {}) as Record<string, unknown>;
        shape = innerShape(shape, name);
      }
    });
  }
  return out;
}

function findKey(shape: unknown, lower: string): string {
  if (shape === null || typeof shape !== 'object') return lower;
  return Object.keys(shape).find((k) => k.toLowerCase() === lower) ?? lower;
}

function innerShape(shape: unknown, key: string): unknown {
  let field = (shape as Record<string, unknown> | null)?.[key] as z.ZodType | undefined;
  // Unwrap default/prefault/optional wrappers to reach the object's shape.
  for (let i = 0; i < 4 && field !== undefined && !(field instanceof z.ZodObject); i++) {
    const def = field.def as { innerType?: z.ZodType };
    field = def.innerType;
  }
  return field instanceof z.ZodObject ? field.shape : undefined;
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SidecarError(ErrorCode.CONFIG_UNREADABLE, `cannot read config file ${file}`, { cause: err, details: { file } });
  }
  let data: unknown;
  try {
    data = parseYaml(text); // YAML is a superset of JSON, so .json files parse too
  } catch (err) {
    throw new SidecarError(ErrorCode.CONFIG_INVALID, `config file ${file} is not valid YAML/JSON`, { cause: err, details: { file } });
  }
  if (data !== null && (typeof data !== 'object' || Array.isArray(data))) {
    throw new SidecarError(ErrorCode.CONFIG_INVALID, `config file ${file} must hold a mapping at the top level`, { details: { file } });
  }
  return parseConfig(merge((data ?? {}) as Record<string, unknown>, envOverrides(env)));
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? merge(b, v) : v;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepFreeze<T>(value: T): T {
  if (isPlainObject(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** URLs with credentials (the metadata DB's) are logged without the password. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable url>';
  }
}
