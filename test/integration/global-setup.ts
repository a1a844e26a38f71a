import { pg, redis, superset, zk } from '../support/realparts.ts';

// The integration project runs against a real 3-node ZooKeeper ensemble, a real PostgreSQL and Redis, started by
// the project's own scripts (installed on first use); the end-to-end files start real Superset replicas on
// top (test/e2e/superset-setup.ts). All are stopped afterwards unless SHA_KEEP_PARTS=1.
export async function setup(): Promise<() => Promise<void>> {
  await Promise.all([zk('start'), pg('start'), redis('start')]);
  return async () => {
    if (process.env.SHA_KEEP_PARTS === '1') return;
    await superset('stop').catch(() => undefined);
    await Promise.allSettled([zk('stop'), pg('stop'), redis('stop')]);
  };
}
