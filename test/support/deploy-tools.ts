import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export const repoRoot = join(import.meta.dirname, '..', '..');

export interface DeployTools {
  PROMTOOL: string;
  PROMETHEUS: string;
  HADOLINT: string;
  COMPOSE: string;
  BUILDAH: string;
  ETCD: string;
  KUBEVAL: string;
}

let cached: DeployTools | undefined;

/** The deploy-checking tools, installed (idempotently, a fast no-op when present) by scripts/deploy-tools.sh. */
export function deployTools(): DeployTools {
  if (cached) return cached;
  const out = execFileSync(join(repoRoot, 'scripts', 'deploy-tools.sh'), ['install'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const env: Record<string, string> = {};
  for (const line of out.trim().split('\n')) {
    const m = /^([A-Z]+)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!.replace(/^'(.*)'$/, '$1');
  }
  for (const k of ['PROMTOOL', 'PROMETHEUS', 'HADOLINT', 'COMPOSE', 'BUILDAH', 'ETCD', 'KUBEVAL']) {
    if (!env[k]) throw new Error(`scripts/deploy-tools.sh printed no ${k}`);
  }
  cached = env as unknown as DeployTools;
  return cached;
}

/** Runs a tool; returns its exit status and combined output (never throws on a non-zero exit). */
export function run(cmd: string, args: string[], opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): { status: number; out: string } {
  try {
    const out = execFileSync(cmd, args, {
      cwd: opts.cwd ?? repoRoot,
      input: opts.input,
      env: opts.env ?? process.env,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { status: 0, out };
  } catch (err) {
    const e = err as { status?: number | null; stdout?: string; stderr?: string; message: string };
    return { status: e.status ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}${e.status === null || e.status === undefined ? e.message : ''}` };
  }
}
