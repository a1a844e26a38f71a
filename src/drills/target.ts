import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ErrorCode, SidecarError } from '../errors.ts';

// What a drill runs against: the sidecars to send load through and watch, the parts to break, and HOW to
// break and heal each one. `kind: local` names the project's scripts (argv lists run from `cwd`); a later
// `kind: kubernetes` keeps the same action names with kubectl argv (docs/drills.md), so scenarios never
// know which one they drive.

const url = z.url({ protocol: /^https?$/ });
const argv = z.array(z.string().min(1)).min(1);

export const ACTION_NAMES = [
  'replica.kill',
  'replica.pause',
  'replica.resume',
  'replica.stop',
  'replica.start',
  'replica.status',
  'sidecar.kill',
  'sidecar.start',
  'sidecar.status',
  'zk.killLeader',
  'zk.stopOne',
  'zk.leader',
  'zk.pauseAll',
  'zk.resumeAll',
  'zk.start',
  'zk.status',
  'db.stop',
  'db.start',
  'db.status',
  'toxiproxy.start',
] as const;
export type ActionName = (typeof ACTION_NAMES)[number];

export const targetSchema = z.strictObject({
  name: z.string().min(1),
  kind: z.literal('local'),
  /** Where the actions run (the repository for the demo). */
  cwd: z.string().min(1),
  sidecars: z
    .array(
      z.strictObject({
        id: z.string().min(1),
        index: z.number().int().min(0),
        proxy: url,
        /** superset-ha's admin listener; absent for a peer proxy (stats then say what it saw). */
        admin: url.optional(),
        /** The replica this sidecar runs beside (its registrar's replica id). */
        replica: z.string().min(1).optional(),
      }),
    )
    .min(1),
  replicas: z.array(z.strictObject({ id: z.string().min(1), index: z.number().int().min(0), url })).min(2),
  zookeeper: z.strictObject({ connect: z.string().min(1), sessionTimeoutMs: z.number().int().positive() }).optional(),
  metadataDb: z.strictObject({ url: z.string().regex(/^postgres(ql)?:\/\//) }).optional(),
  /** Real Superset load: a login and the seeded request bodies. Without it the load is plain HTTP (`http`). */
  superset: z
    .strictObject({
      username: z.string().min(1),
      password: z.string(),
      chartDataFile: z.string().min(1),
      sqllabFile: z.string().min(1),
      seedFile: z.string().min(1).optional(),
    })
    .optional(),
  /** Plain HTTP load (lightweight upstreams in bench/): a safe GET and an unsafe POST. */
  http: z.strictObject({ readPath: z.string().startsWith('/'), writePath: z.string().startsWith('/') }).optional(),
  /** Files where upstreams log "recv <x-id> <method> <path>" per received request: counts replayed POSTs. */
  receiveLogs: z.array(z.string().min(1)).optional(),
  /** A peer proxy's stats (HAProxy CSV) instead of superset-ha admin endpoints. */
  haproxyStats: z.strictObject({ url, backend: z.string().min(1) }).optional(),
  health: z.strictObject({ intervalMs: z.number().int().positive(), fall: z.number().int().positive(), rise: z.number().int().positive() }),
  toxiproxy: z.strictObject({ api: url }).optional(),
  actions: z.partialRecord(z.enum(ACTION_NAMES), argv),
});
export type Target = z.infer<typeof targetSchema>;

export function parseTarget(raw: unknown, source: string): Target {
  const r = targetSchema.safeParse(raw);
  if (!r.success) {
    const why = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new SidecarError(ErrorCode.DRILL_TARGET_INVALID, `${source}: ${why}`, { details: { source } });
  }
  if (r.data.superset === undefined && r.data.http === undefined) {
    throw new SidecarError(ErrorCode.DRILL_TARGET_INVALID, `${source}: needs "superset" (Superset load) or "http" (plain load)`);
  }
  return r.data;
}

/** `demo` is the file scripts/demo.sh writes; anything else is a path to a target file (JSON). */
export function loadTarget(spec: string, runDir: string): Target {
  const file = spec === 'demo' ? path.join(runDir, 'demo', 'target.json') : path.resolve(spec);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const hint = spec === 'demo' ? ' (is scripts/demo.sh running? it writes this file when the demo is ready)' : '';
    throw new SidecarError(ErrorCode.DRILL_TARGET_INVALID, `cannot read target ${file}${hint}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new SidecarError(ErrorCode.DRILL_TARGET_INVALID, `${file}: not JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseTarget(raw, file);
}

/** The target as the journal records it: no passwords. */
export function redactedTarget(t: Target): unknown {
  return { ...t, superset: t.superset ? { ...t.superset, password: '<redacted>' } : undefined, metadataDb: t.metadataDb ? { url: t.metadataDb.url.replace(/:[^:@/]*@/, ':<redacted>@') } : undefined };
}
