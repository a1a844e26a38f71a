import { ErrorCode, SidecarError } from '../errors.ts';
import { runAction } from './actions.ts';
import { freePort, hostPort, parseStatus, portClosed, procState, within } from './probes.ts';
import type { Target } from './target.ts';
import { Toxiproxy } from './toxiproxy.ts';

// Fault injectors. Each breaks one part through the target's actions (the project's scripts), proves the
// fault landed, and heals it. setup/teardown (outside the measured window) re-route a sidecar through
// Toxiproxy for the faults the kernel cannot make here (no netem).

export interface Fault {
  setup?(): Promise<void>;
  inject(): Promise<string>;
  /** Evidence that the fault is in place; throws SHA_DRILL_FAULT_NOT_LANDED otherwise. */
  verify(): Promise<string>;
  heal(): Promise<void>;
  teardown?(): Promise<void>;
}

export interface Victim {
  readonly replica: Target['replicas'][number];
  readonly sidecar: Target['sidecars'][number];
}

const notLanded = (what: string) => new SidecarError(ErrorCode.DRILL_FAULT_NOT_LANDED, `the fault did not land: ${what}`);

async function mustWithin(ms: number, what: string, check: () => Promise<string | undefined>): Promise<string> {
  const r = await within(ms, check);
  if (r === undefined) throw notLanded(what);
  return r;
}

function replicaClosed(v: Victim): () => Promise<string | undefined> {
  const { host, port } = hostPort(v.replica.url);
  return async () => ((await portClosed(host, port)) ? `${host}:${port} refuses connections` : undefined);
}

export function replicaCrash(t: Target, v: Victim): Fault {
  return {
    inject: () => runAction(t, 'replica.kill', { replica: v.replica.index }),
    verify: () => mustWithin(3000, `${v.replica.url} still accepts connections`, replicaClosed(v)),
    heal: async () => void (await runAction(t, 'replica.start', { replica: v.replica.index })),
  };
}

export function replicaDrain(t: Target, v: Victim): Fault {
  return {
    inject: () => runAction(t, 'replica.stop', { replica: v.replica.index }),
    verify: () => mustWithin(20_000, `${v.replica.url} still accepts connections`, replicaClosed(v)),
    heal: async () => void (await runAction(t, 'replica.start', { replica: v.replica.index })),
  };
}

export function replicaHang(t: Target, v: Victim): Fault {
  return {
    inject: () => runAction(t, 'replica.pause', { replica: v.replica.index }),
    verify: () =>
      mustWithin(3000, `replica ${v.replica.id} is not stopped (state T)`, async () => {
        const st = parseStatus(await runAction(t, 'replica.status')).get(v.replica.index);
        if (st?.state !== 'paused' || st.pid === undefined) return undefined;
        const s = await procState(st.pid);
        return s === 'T' || s === 't' ? `pid ${st.pid} state ${s} (/proc/${st.pid}/stat)` : undefined;
      }),
    heal: async () => void (await runAction(t, 'replica.resume', { replica: v.replica.index })),
  };
}

/** Added latency on one replica for every sidecar: Toxiproxy in front of it, registered as its URL. */
export function replicaSlow(t: Target, v: Victim, latencyMs: number): Fault {
  if (!t.toxiproxy) throw new SidecarError(ErrorCode.DRILL_TARGET_INVALID, `target ${t.name} has no toxiproxy: replica-slow needs one`);
  const tp = new Toxiproxy(t.toxiproxy.api);
  const name = `drill-slow-${v.replica.id}`;
  return {
    async setup() {
      await runAction(t, 'toxiproxy.start');
      const port = await freePort();
      const up = hostPort(v.replica.url);
      await tp.proxy(name, `127.0.0.1:${port}`, `${up.host}:${up.port}`);
      // The replica's own sidecar registers the proxy's address: every sidecar then reaches it through Toxiproxy.
      await runAction(t, 'sidecar.start', { sidecar: v.sidecar.index, env: [`SHA_REPLICA__URL=http://127.0.0.1:${port}`] });
    },
    inject: async () => {
      await tp.addToxic(name, { name: 'latency', type: 'latency', stream: 'downstream', attributes: { latency: latencyMs, jitter: Math.round(latencyMs / 10) } });
      return `latency ${latencyMs} ms on ${name}`;
    },
    verify: () => mustWithin(3000, `no latency toxic listed on ${name}`, async () => ((await tp.toxics(name)).some((x) => x.type === 'latency') ? `toxic "latency" listed on ${name}` : undefined)),
    heal: () => tp.removeToxic(name, 'latency'),
    async teardown() {
      await runAction(t, 'sidecar.start', { sidecar: v.sidecar.index, env: [] });
      await tp.deleteProxy(name);
    },
  };
}

export function metadataDbDown(t: Target): Fault {
  if (!t.metadataDb) throw new SidecarError(ErrorCode.DRILL_TARGET_INVALID, `target ${t.name} has no metadataDb`);
  const { host, port } = hostPort(t.metadataDb.url);
  return {
    inject: () => runAction(t, 'db.stop'),
    verify: () => mustWithin(5000, `the metadata DB ${host}:${port} still accepts connections`, async () => ((await portClosed(host, port)) ? `${host}:${port} refuses connections` : undefined)),
    heal: async () => void (await runAction(t, 'db.start')),
  };
}

async function zkStates(t: Target): Promise<Map<number, { pid: number | undefined; state: string }>> {
  return parseStatus(await runAction(t, 'zk.status'));
}

export function zkLeaderKill(t: Target): Fault {
  let killed: number | undefined;
  return {
    inject: async () => {
      killed = Number(await runAction(t, 'zk.killLeader'));
      return `killed ZooKeeper leader ${killed}`;
    },
    verify: () => mustWithin(3000, 'the old leader is still running', async () => ((await zkStates(t)).get(killed!)?.state === 'down' ? `server ${killed} down` : undefined)),
    heal: async () => void (await runAction(t, 'zk.start')),
  };
}

/** Two of three servers down: the ensemble has no quorum. */
export function zkQuorumLoss(t: Target): Fault {
  let down: number[] = [];
  return {
    inject: async () => {
      const leader = Number(await runAction(t, 'zk.leader'));
      down = [leader, (leader % 3) + 1];
      for (const n of down) await runAction(t, 'zk.stopOne', { server: n });
      return `stopped ZooKeeper servers ${down.join(' and ')}`;
    },
    verify: () =>
      mustWithin(5000, `servers ${down.join(', ')} are not all down`, async () => {
        const s = await zkStates(t);
        return down.every((n) => s.get(n)?.state === 'down') ? `servers ${down.join(', ')} down` : undefined;
      }),
    heal: async () => void (await runAction(t, 'zk.start')),
  };
}

/** Every server paused (SIGSTOP) past the session timeout, as Patroni's DCS-outage tests do. */
export function zkOutage(t: Target): Fault {
  return {
    inject: () => runAction(t, 'zk.pauseAll'),
    verify: () =>
      mustWithin(3000, 'not every ZooKeeper server is paused', async () => {
        const s = await zkStates(t);
        const pids = [...s.values()].map((x) => x.pid).filter((p) => p !== undefined);
        const states = await Promise.all(pids.map((p) => procState(p)));
        return s.size === 3 && [...s.values()].every((x) => x.state === 'paused') && states.every((x) => x === 'T' || x === 't')
          ? `servers ${pids.join(', ')} in state T`
          : undefined;
      }),
    heal: async () => {
      await runAction(t, 'zk.resumeAll');
      await runAction(t, 'zk.start');
    },
  };
}

export function sidecarCrash(t: Target, v: Victim): Fault {
  const admin = hostPort(v.sidecar.admin ?? v.sidecar.proxy);
  return {
    inject: () => runAction(t, 'sidecar.kill', { sidecar: v.sidecar.index }),
    verify: () => mustWithin(3000, `${v.sidecar.id} still answers`, async () => ((await portClosed(admin.host, admin.port)) ? `${v.sidecar.id} admin ${admin.port} refuses connections` : undefined)),
    heal: async () => void (await runAction(t, 'sidecar.start', { sidecar: v.sidecar.index, env: [] })),
  };
}

/** One sidecar cut from ZooKeeper (silently: a blackhole, not a refusal), still reaching every replica. */
export function zkPartition(t: Target, v: Victim): Fault {
  if (!t.toxiproxy || !t.zookeeper) throw new SidecarError(ErrorCode.DRILL_TARGET_INVALID, `target ${t.name} needs toxiproxy and zookeeper for zk-partition`);
  const tp = new Toxiproxy(t.toxiproxy.api);
  const servers = t.zookeeper.connect.split(',');
  const names = servers.map((_, i) => `drill-zk-${i + 1}`);
  return {
    async setup() {
      await runAction(t, 'toxiproxy.start');
      const listen: string[] = [];
      for (const [i, s] of servers.entries()) {
        const port = await freePort();
        await tp.proxy(names[i]!, `127.0.0.1:${port}`, s);
        listen.push(`127.0.0.1:${port}`);
      }
      await runAction(t, 'sidecar.start', { sidecar: v.sidecar.index, env: [`SHA_ZOOKEEPER__CONNECT=${listen.join(',')}`] });
    },
    inject: async () => {
      for (const n of names) {
        for (const stream of ['upstream', 'downstream'] as const) {
          await tp.addToxic(n, { name: `cut-${stream}`, type: 'timeout', stream, attributes: { timeout: 0 } });
        }
      }
      return `blackholed ${v.sidecar.id}'s connections to ${servers.length} ZooKeeper servers`;
    },
    verify: () =>
      mustWithin(3000, 'the blackhole toxics are not all listed', async () => {
        const all = await Promise.all(names.map((n) => tp.toxics(n)));
        return all.every((x) => x.filter((y) => y.type === 'timeout').length === 2) ? `timeout toxics listed on ${names.join(', ')}` : undefined;
      }),
    heal: async () => {
      for (const n of names) for (const s of ['upstream', 'downstream']) await tp.removeToxic(n, `cut-${s}`);
    },
    async teardown() {
      await runAction(t, 'sidecar.start', { sidecar: v.sidecar.index, env: [] });
      for (const n of names) await tp.deleteProxy(n);
    },
  };
}
