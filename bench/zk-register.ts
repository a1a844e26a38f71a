// Holds the bench's backends in superset-ha's live set: one EPHEMERAL znode per backend under
// ROOT/replicas, in the payload format of src/zookeeper/payload.ts, for as long as this process runs.
//   node bench/zk-register.ts CONNECT ROOT ID=URL [ID=URL...]
// Prints "registered N" once every node exists; SIGTERM/SIGINT close the session (the ensemble then
// deletes the nodes at once). A new session after expiry re-creates them.
import { ErrorCode, isSidecarError } from '../src/errors.ts';
import { ZkSession } from '../src/zookeeper/session.ts';

const [connect, root, ...pairs] = process.argv.slice(2);
const replicas = pairs.map((p) => {
  const eq = p.indexOf('=');
  return { id: p.slice(0, eq), url: p.slice(eq + 1) };
});
if (connect === undefined || root === undefined || replicas.length === 0 || replicas.some((r) => r.id === '' || r.url === '')) {
  process.stderr.write('usage: node bench/zk-register.ts CONNECT ROOT ID=URL [ID=URL...]\n');
  process.exit(2);
}
const dir = `${root}/replicas`;
const startedAt = new Date().toISOString();

const session = new ZkSession({
  connect,
  sessionTimeoutMs: 10_000,
  connectTimeoutMs: 5_000,
  operationTimeoutMs: 5_000,
  probeIntervalMs: 1_000,
  probeTimeoutMs: 1_500,
  retry: { baseMs: 250, maxMs: 2_000 },
});
session.on('error', (err) => process.stderr.write(`zk-register: ${err.code}: ${err.message}\n`));
session.on('connectTimeout', (err) => process.stderr.write(`zk-register: ${err.code}: ${err.message}\n`));

async function registerAll(sessionId: string): Promise<void> {
  await session.mkdirp(dir);
  for (const r of replicas) {
    const path = `${dir}/${r.id}`;
    const data = Buffer.from(JSON.stringify({ id: r.id, url: r.url, zone: 'default', weight: 100, version: 'bench', startedAt }));
    try {
      await session.create(path, data, 'ephemeral');
    } catch (err) {
      if (!isSidecarError(err) || err.code !== ErrorCode.ZK_NODE_EXISTS) throw err;
      // Left by an earlier, killed bench whose session has not timed out yet, or ours from before a
      // reconnect: replace it unless it is already ours.
      const stat = await session.exists(path);
      if (stat !== null && stat.ephemeralOwner === sessionId) continue;
      await session.remove(path);
      await session.create(path, data, 'ephemeral');
    }
  }
}

let registered = false;
session.on('session', ({ sessionId }) => {
  registerAll(sessionId).then(
    () => {
      if (!registered) process.stdout.write(`registered ${replicas.length}\n`);
      registered = true;
    },
    (err: unknown) => {
      process.stderr.write(`zk-register: ${(err as Error).message}\n`);
      process.exitCode = 1;
      void session.close().then(() => process.exit(1));
    },
  );
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void session.close().then(() => process.exit(0));
  });
}
session.start();
