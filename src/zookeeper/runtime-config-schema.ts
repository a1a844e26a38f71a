import { z } from 'zod';
import { replicaId } from '../config-schema.ts';
import { ErrorCode, SidecarError } from '../errors.ts';

// The shared runtime config in <root>/config: what operators change on a running fleet without restarts.
// Every field is optional; an absent one means "the sidecar's own config file decides".

export const RUNTIME_CONFIG_SCHEMA_VERSION = 1;
/** ZooKeeper's default jute.maxbuffer is 1 MiB; a config this large is a mistake. */
export const MAX_RUNTIME_CONFIG_BYTES = 256 * 1024;

const int = (min: number, max: number) => z.number().int().min(min).max(max);

export const runtimeConfigSchema = z.strictObject({
  schemaVersion: z.literal(RUNTIME_CONFIG_SCHEMA_VERSION, { error: `must be ${RUNTIME_CONFIG_SCHEMA_VERSION}` }),
  /** Per replica id: a weight overriding the one it registered, and maintenance (drained, not routed to). */
  replicas: z
    .record(
      replicaId,
      z.strictObject({ weight: int(1, 1000).optional(), maintenance: z.boolean().optional(), note: z.string().max(500).optional() }),
    )
    .optional(),
  retry: z
    .strictObject({ maxAttempts: int(1, 10), budgetRatio: z.number().min(0).max(10), budgetMinPerSec: z.number().min(0).max(10_000) })
    .partial()
    .optional(),
  outlier: z
    .strictObject({
      consecutiveFailures: int(1, 1000),
      baseEjectionMs: int(100, 600_000),
      maxEjectionMs: int(100, 3_600_000),
      maxEjectedPercent: int(0, 100),
    })
    .partial()
    .optional(),
  /** Hedged reads: overrides proxy.hedge field by field (routes: [] turns hedging off). */
  hedge: z
    .strictObject({ routes: z.array(z.enum(['idempotent', 'read-query'])), delayMs: int(1, 600_000), percentile: z.number().min(1).max(99.9) })
    .partial()
    .optional(),
});

export type RuntimeConfig = z.infer<typeof runtimeConfigSchema>;

export const EMPTY_RUNTIME_CONFIG: RuntimeConfig = { schemaVersion: RUNTIME_CONFIG_SCHEMA_VERSION };

export function encodeRuntimeConfig(doc: RuntimeConfig): Buffer {
  return Buffer.from(`${JSON.stringify(runtimeConfigSchema.parse(doc), null, 2)}\n`);
}

/** Parses and validates a document; throws SHA_RUNTIME_CONFIG_INVALID naming every problem. */
export function decodeRuntimeConfig(data: Buffer | string): RuntimeConfig {
  const text = typeof data === 'string' ? data : data.toString('utf8');
  const bad = (problems: string[], cause?: unknown) =>
    new SidecarError(ErrorCode.RUNTIME_CONFIG_INVALID, `invalid runtime config:\n  ${problems.join('\n  ')}`, { cause, details: { problems } });
  if (Buffer.byteLength(text) > MAX_RUNTIME_CONFIG_BYTES) throw bad([`(root): larger than ${MAX_RUNTIME_CONFIG_BYTES} bytes`]);
  // An empty node (created by hand, or by zkCli without data) means "no overrides".
  if (text.trim() === '') return EMPTY_RUNTIME_CONFIG;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw bad([`(root): not JSON: ${(err as Error).message}`], err);
  }
  const parsed = runtimeConfigSchema.safeParse(json);
  if (!parsed.success) throw bad(parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  return parsed.data;
}
