import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PG_URL, RUN_DIR, superset } from '../support/realparts.ts';
import { SESSION_TIMEOUT_MS, testRoot, zkTestOptions } from '../support/harness.ts';
import { SidecarProcess } from '../support/sidecar-process.ts';

export const ADMIN_PASSWORD = process.env.SHA_SUPERSET_ADMIN_PASSWORD ?? 'admin';
export const REPLICAS = 2;
/** The health settings scripts/demo.sh gives its sidecars (a test checks they stay in step). */
export const DEMO_HEALTH = { intervalMs: 1000, timeoutMs: 800, rise: 2, fall: 2 } as const;

/** Real Superset replicas (installed on first use), seeded with a chart; idempotent and fast when running. */
export async function startSuperset(): Promise<{ urls: string[]; chartData: string; sqllab: Record<string, unknown> }> {
  await superset('start', String(REPLICAS));
  await superset('seed');
  const urls = await Promise.all(Array.from({ length: REPLICAS }, (_, i) => superset('url', String(i))));
  const dir = join(RUN_DIR, 'superset');
  return {
    urls,
    chartData: readFileSync(join(dir, 'chart-data.json'), 'utf8'),
    sqllab: JSON.parse(readFileSync(join(dir, 'sqllab-execute.json'), 'utf8')) as Record<string, unknown>,
  };
}

export interface Sidecar {
  readonly process: SidecarProcess;
  readonly id: string;
  readonly proxy: string;
  readonly admin: string;
}

/**
 * One sidecar process beside each replica, as deployed: registrar + router, preferring its own replica, with
 * the demo's health settings and the proxy's production timeouts (60 s): failover claims are tested as users
 * run them.
 */
export async function startSidecars(urls: string[], root = testRoot()): Promise<{ root: string; sidecars: Sidecar[] }> {
  const sidecars: Sidecar[] = [];
  for (const [i, url] of urls.entries()) {
    const p = new SidecarProcess({
      zookeeper: { ...zkTestOptions, root, sessionTimeoutMs: SESSION_TIMEOUT_MS },
      replica: { id: `superset-${i}`, url },
      metadataDb: { url: PG_URL },
      health: DEMO_HEALTH,
      proxy: { host: '127.0.0.1', port: 0 },
      admin: { port: 0 },
      shutdown: { drainDelayMs: 0, drainTimeoutMs: 3000 },
    });
    sidecars.push({ process: p, id: `superset-${i}`, proxy: await p.proxyUrl(), admin: await p.adminUrl() });
  }
  return { root, sidecars };
}

/** Live replica ids as a sidecar's admin API reports them, and whether that set is stale. */
export async function liveSet(admin: string): Promise<{ ids: string[]; stale: boolean }> {
  const v = (await (await fetch(`${admin}/replicas`)).json()) as { live: { stale: boolean; replicas: { id: string }[] } };
  return { ids: v.live.replicas.map((r) => r.id).sort(), stale: v.live.stale };
}

export async function waitLive(sidecars: Sidecar[], ids: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const s of sidecars) {
    for (;;) {
      const live = await liveSet(s.admin);
      if (!live.stale && live.ids.join() === [...ids].sort().join()) break;
      if (Date.now() > deadline) throw new Error(`${s.id} sees ${JSON.stringify(live)}, not ${ids.join()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
