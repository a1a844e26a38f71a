// Prints the demo's drill target (JSON) on stdout; scripts/demo.sh runs it once the stack is up.
//   node src/drills/demo-target.ts --proxy-base P --admin-base A --zk CONNECT --db URL --run-dir DIR \
//        --toxiproxy URL REPLICA_URL...
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseTarget, type Target } from './target.ts';

const { values: v, positionals: urls } = parseArgs({
  allowPositionals: true,
  options: {
    'proxy-base': { type: 'string' },
    'admin-base': { type: 'string' },
    zk: { type: 'string' },
    db: { type: 'string' },
    'run-dir': { type: 'string' },
    toxiproxy: { type: 'string' },
  },
});
const need = (k: keyof typeof v): string => {
  const x = v[k];
  if (x === undefined) throw new Error(`--${k} is required`);
  return x;
};
const proxyBase = Number(need('proxy-base'));
const adminBase = Number(need('admin-base'));
const runDir = need('run-dir');
const repo = path.resolve(import.meta.dirname, '..', '..');
const ss = path.join(runDir, 'superset');
const s = (...a: string[]) => a;

const target: Target = parseTarget(
  {
    name: 'demo',
    kind: 'local',
    cwd: repo,
    sidecars: urls.map((_, i) => ({ id: `sidecar-${i}`, index: i, proxy: `http://127.0.0.1:${proxyBase + i}`, admin: `http://127.0.0.1:${adminBase + i}`, replica: `superset-${i}` })),
    replicas: urls.map((u, i) => ({ id: `superset-${i}`, index: i, url: u })),
    // The demo's sidecar configs (scripts/demo.sh): 6 s sessions, health every 1 s, rise 2 / fall 2.
    zookeeper: { connect: need('zk'), sessionTimeoutMs: 6000 },
    metadataDb: { url: need('db') },
    superset: {
      username: 'admin',
      password: process.env.SHA_SUPERSET_ADMIN_PASSWORD || 'admin',
      chartDataFile: path.join(ss, 'chart-data.json'),
      sqllabFile: path.join(ss, 'sqllab-execute.json'),
      seedFile: path.join(ss, 'seed.json'),
    },
    health: { intervalMs: 1000, fall: 2, rise: 2 },
    toxiproxy: { api: need('toxiproxy') },
    actions: {
      'replica.kill': s('scripts/superset.sh', 'kill-one', '{replica}'),
      'replica.pause': s('scripts/superset.sh', 'pause-one', '{replica}'),
      'replica.resume': s('scripts/superset.sh', 'resume-one', '{replica}'),
      'replica.stop': s('scripts/superset.sh', 'stop-one', '{replica}'),
      'replica.start': s('scripts/superset.sh', 'start-one', '{replica}'),
      'replica.status': s('scripts/superset.sh', 'status'),
      'sidecar.kill': s('scripts/sidecar.sh', 'kill-one', '{sidecar}'),
      'sidecar.start': s('scripts/sidecar.sh', 'start-one', '{sidecar}', '{env...}'),
      'sidecar.status': s('scripts/sidecar.sh', 'status'),
      'zk.killLeader': s('scripts/zk.sh', 'kill-leader'),
      'zk.stopOne': s('scripts/zk.sh', 'stop-one', '{server}'),
      'zk.leader': s('scripts/zk.sh', 'leader'),
      'zk.pauseAll': s('scripts/zk.sh', 'pause-all'),
      'zk.resumeAll': s('scripts/zk.sh', 'resume-all'),
      'zk.start': s('scripts/zk.sh', 'start'),
      'zk.status': s('scripts/zk.sh', 'status'),
      'db.stop': s('scripts/pg.sh', 'stop'),
      'db.start': s('scripts/pg.sh', 'start'),
      'db.status': s('scripts/pg.sh', 'status'),
      // The API port the demo was started with, whatever the drill's own environment says.
      'toxiproxy.start': s('env', `SHA_TOXIPROXY_PORT=${new URL(need('toxiproxy')).port}`, 'scripts/toxiproxy.sh', 'start'),
    },
  },
  'demo',
);
process.stdout.write(`${JSON.stringify(target, null, 2)}\n`);
