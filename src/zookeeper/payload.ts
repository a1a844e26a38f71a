import { z } from 'zod';
import { replicaId, replicaUrl } from '../config-schema.ts';
import { ErrorCode, SidecarError } from '../errors.ts';

// What a replica's ephemeral znode holds. Validated on read: a payload written by a broken or foreign
// writer must never reach the routing table.
export const replicaPayloadSchema = z.strictObject({
  id: replicaId,
  url: replicaUrl,
  zone: z.string().min(1).max(64),
  weight: z.number().int().min(1).max(1000),
  version: z.string().max(64),
  startedAt: z.iso.datetime(),
  /**
   * Payload v2. Absent: serving. `draining`: the registrar is about to delete the node because the replica is
   * shutting down, not because it failed, so routers let requests in flight there finish instead of moving
   * them (a failed replica's are rescued). Written only while draining, so a v1 router — whose strict schema
   * rejects the field — merely stops routing to the replica a moment earlier.
   */
  state: z.enum(['draining']).optional(),
});

export type ReplicaPayload = z.infer<typeof replicaPayloadSchema>;

/**
 * The order of replica ids (znode names) everywhere the live set is sorted: by UTF-16 code unit. The same on
 * every sidecar whatever its locale, and it loads no ICU collation data (localeCompare did: ~3 MiB of RSS).
 */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Largest payload we accept; ours are ~200 bytes, and ZooKeeper allows 1 MiB per node. */
const MAX_PAYLOAD_BYTES = 16 * 1024;

export function encodePayload(p: ReplicaPayload): Buffer {
  return Buffer.from(JSON.stringify(replicaPayloadSchema.parse(p)));
}

export function decodePayload(name: string, data: Buffer): ReplicaPayload {
  const bad = (reason: string, cause?: unknown) =>
    new SidecarError(ErrorCode.ZK_BAD_PAYLOAD, `replica znode ${name}: ${reason}`, { cause, details: { znode: name, reason } });
  if (data.length === 0) throw bad('empty payload');
  if (data.length > MAX_PAYLOAD_BYTES) throw bad(`payload of ${data.length} bytes exceeds ${MAX_PAYLOAD_BYTES}`);
  let json: unknown;
  try {
    json = JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw bad('payload is not JSON', err);
  }
  const parsed = replicaPayloadSchema.safeParse(json);
  if (!parsed.success) {
    throw bad(`payload fails the schema: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')}`);
  }
  if (parsed.data.id !== name) throw bad(`payload id "${parsed.data.id}" does not match the znode name`);
  return parsed.data;
}
