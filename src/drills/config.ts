import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ErrorCode, SidecarError } from '../errors.ts';
import { SCENARIO_NAMES } from './scenario-names.ts';

// The drill's own settings (config/drills.yaml): how long each phase lasts, the load, and the thresholds
// the verdict checks. Validated once with zod, like the sidecar's config.

const secs = (max: number) => z.number().positive().max(max);
const limit = z.number().min(0).nullable();

export const thresholdsSchema = z.strictObject({
  maxClientErrors: limit,
  maxClientErrorPct: limit,
  maxReplayedUnsafe: limit,
  maxDetectS: limit,
  maxIsolateS: limit,
  maxRecoverS: limit,
  maxP99DuringMs: limit,
  maxP99AfterRatio: limit,
  metricsMustTell: z.boolean(),
});
export type Thresholds = z.infer<typeof thresholdsSchema>;

export const drillConfigSchema = z.strictObject({
  run: z.strictObject({
    steadyS: secs(600),
    faultS: secs(3600),
    recoveryWaitS: secs(3600),
    afterS: z.number().min(0).max(600),
    rate: z.number().positive().max(1000),
    maxInFlight: z.number().int().min(1).max(10_000),
    clientTimeoutS: secs(3600),
    sampleMs: z.number().int().min(50).max(60_000),
    sqllabShare: z.number().min(0).max(1),
  }),
  thresholds: thresholdsSchema,
  scenarios: z.partialRecord(z.enum(SCENARIO_NAMES), thresholdsSchema.partial()).default({}),
});
export type DrillConfig = z.infer<typeof drillConfigSchema>;

export const DEFAULT_CONFIG_FILE = path.resolve(import.meta.dirname, '..', '..', 'config', 'drills.yaml');

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `over` on top of `base`, objects merged key by key (a user's file names only what it changes). */
function deepMerge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

function readYaml(text: string, source: string): unknown {
  try {
    return parseYaml(text) ?? {};
  } catch (err) {
    throw new SidecarError(ErrorCode.DRILL_CONFIG_INVALID, `${source}: not YAML: ${(err as Error).message}`, { cause: err });
  }
}

/** Parses a drill config; anything it leaves out comes from `base` (the defaults in config/drills.yaml). */
export function parseDrillConfig(text: string, source: string, base: unknown = defaultsRaw()): DrillConfig {
  const raw = deepMerge(base, readYaml(text, source));
  const r = drillConfigSchema.safeParse(raw);
  if (!r.success) {
    const why = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new SidecarError(ErrorCode.DRILL_CONFIG_INVALID, `${source}: ${why}`, { details: { source } });
  }
  return r.data;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new SidecarError(ErrorCode.DRILL_CONFIG_INVALID, `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

function defaultsRaw(): unknown {
  return readYaml(readText(DEFAULT_CONFIG_FILE), DEFAULT_CONFIG_FILE);
}

export function loadDrillConfig(file = DEFAULT_CONFIG_FILE): DrillConfig {
  return file === DEFAULT_CONFIG_FILE ? parseDrillConfig(readText(file), file, {}) : parseDrillConfig(readText(file), file);
}

/** The thresholds one scenario is judged by: the defaults with its own entry on top. */
export function thresholdsFor(config: DrillConfig, scenario: string): Thresholds {
  const own = (config.scenarios as Record<string, Partial<Thresholds> | undefined>)[scenario] ?? {};
  return { ...config.thresholds, ...own };
}
