import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { schema } from './config-schema.ts';
import { ErrorCode, SidecarError } from './errors.ts';

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
  const electorProblem = checkElector(c);
  if (electorProblem !== undefined) {
    throw new SidecarError(ErrorCode.CONFIG_INVALID, `invalid config:\n  ${electorProblem}`, { details: { problems: [electorProblem] } });
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

/**
 * The elected command must be gone before our session can expire and another sidecar can win: stepping down
 * at disconnectFraction of the timeout, plus the stop deadline, must end before the timeout (invariant 9).
 */
function checkElector(c: Parsed): string | undefined {
  if (!c.roles.elector) return undefined;
  if (c.elector.command === undefined) return 'elector.command: required when roles.elector is true';
  const { disconnectFraction, stopTimeoutMs } = c.elector;
  const T = c.zookeeper.sessionTimeoutMs;
  if (disconnectFraction * T + stopTimeoutMs >= T) {
    return `elector.stopTimeoutMs: disconnectFraction × zookeeper.sessionTimeoutMs + stopTimeoutMs (${Math.round(disconnectFraction * T + stopTimeoutMs)} ms) must stay below the session timeout (${T} ms), or the command could still run when another sidecar takes over`;
  }
  return undefined;
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
