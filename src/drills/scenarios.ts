import * as F from './faults.ts';
import type { Fault, Victim } from './faults.ts';
import type { LedgerEntry } from './ledger.ts';
import type { Observation } from './observer.ts';
import type { ScenarioName } from './scenario-names.ts';
import type { Target } from './target.ts';

/** Samples of the run as the scenario's predicates see them. */
export interface StoryView {
  /** Per sidecar: the last sample before the fault. */
  readonly before: ReadonlyMap<string, Observation>;
  /** Samples from the fault until healing. */
  readonly during: readonly Observation[];
  /** Per sidecar: the last sample of the run. */
  readonly end: ReadonlyMap<string, Observation>;
  readonly replicaCount: number;
}

export type Who = 'any' | 'victim' | 'others';

export interface StoryItem {
  /** What /metrics should have shown, in words (the report prints it). */
  readonly say: string;
  readonly check: (v: StoryView, victim: Victim) => boolean;
}

export interface Scenario {
  readonly name: ScenarioName;
  readonly what: string;
  fault(t: Target, v: Victim): Fault;
  /** A sidecar's sample shows the fault was noticed (compared with its sample before the fault). */
  detected(o: Observation, before: Observation | undefined, v: Victim): boolean;
  /** A sidecar's sample shows it sends nothing to the failed part; undefined: not applicable. */
  readonly isolated?: (o: Observation, v: Victim) => boolean;
  readonly story: readonly StoryItem[];
  /** Requests whose errors count against the scenario (sidecar-crash: not those sent to the crashed sidecar). */
  readonly counts?: (e: LedgerEntry, v: Victim) => boolean;
  /** Faults that must outlast something (the session timeout) hold at least this long. */
  minFaultMs?(t: Target): number;
}

const pick = (v: StoryView, who: Who, victim: Victim) => (o: Observation) =>
  who === 'any' || (who === 'victim' ? o.sidecar === victim.sidecar.id : o.sidecar !== victim.sidecar.id);

/** The counter `key` rose on some sidecar of `who` between its sample before the fault and its last one. */
export const rose = (key: string, who: Who = 'any') => (v: StoryView, victim: Victim) =>
  [...v.end.values()].filter(pick(v, who, victim)).some((o) => o.up && (o.m[key] ?? 0) > (v.before.get(o.sidecar)?.m[key] ?? 0));

/** The gauge `key` was at most `n` on some sidecar of `who` while the fault was on. */
export const sawAtMost = (key: string, n: number, who: Who = 'any') => (v: StoryView, victim: Victim) =>
  v.during.filter(pick(v, who, victim)).some((o) => o.up && o.m[key] !== undefined && o.m[key] <= n);

export const sawAtLeast = (key: string, n: number, who: Who = 'any') => (v: StoryView, victim: Victim) =>
  v.during.filter(pick(v, who, victim)).some((o) => o.up && (o.m[key] ?? -Infinity) >= n);

const routesTo = (o: Observation, id: string) => o.routable.includes(id);
const replicaNoticed = (o: Observation, _b: Observation | undefined, v: Victim) =>
  o.up && (!routesTo(o, v.replica.id) || (o.sidecar === v.sidecar.id && o.m.healthSuperset === 0));
const replicaIsolated = (o: Observation, v: Victim) => !o.up || !routesTo(o, v.replica.id);
const rise = (key: string) => (o: Observation, b: Observation | undefined) => o.up && b !== undefined && (o.m[key] ?? 0) > (b.m[key] ?? 0);
const zkNoticed = (o: Observation, b: Observation | undefined) => o.up && (o.stale || o.m.connected === 0 || rise('probeFailures')(o, b) || rise('sessions')(o, b));

const replicaStory = (extra: StoryItem[] = []): StoryItem[] => [
  { say: "the victim's sidecar reported its replica unhealthy (health_status 0)", check: sawAtMost('healthSuperset', 0, 'victim') },
  { say: 'the live set dropped (replicas_live below the replica count)', check: (v, vic) => sawAtMost('live', v.replicaCount - 1)(v, vic) },
  ...extra,
];

export const SCENARIOS: Readonly<Record<ScenarioName, Scenario>> = {
  'replica-crash': {
    name: 'replica-crash',
    what: 'SIGKILL one replica (every process of it), then start it again',
    fault: F.replicaCrash,
    detected: replicaNoticed,
    isolated: replicaIsolated,
    story: replicaStory([{ say: 'health check failures were counted', check: rose('healthFailures', 'victim') }]),
  },
  'replica-hang': {
    name: 'replica-hang',
    what: 'SIGSTOP one replica (a hang: connections are accepted, nothing answers), then SIGCONT',
    fault: F.replicaHang,
    detected: replicaNoticed,
    isolated: replicaIsolated,
    story: replicaStory([{ say: 'health check failures were counted', check: rose('healthFailures', 'victim') }]),
  },
  'replica-drain': {
    name: 'replica-drain',
    what: 'stop one replica gracefully (SIGTERM: it finishes what it has), then start it again',
    fault: F.replicaDrain,
    detected: replicaNoticed,
    isolated: replicaIsolated,
    story: replicaStory(),
  },
  'replica-slow': {
    name: 'replica-slow',
    what: "1.5 s of added latency on one replica's responses (Toxiproxy between every sidecar and it)",
    fault: (t, v) => F.replicaSlow(t, v, 1500),
    detected: replicaNoticed,
    isolated: replicaIsolated,
    story: [{ say: 'health check failures were counted on its sidecar', check: rose('healthFailures', 'victim') }],
  },
  'metadata-db-down': {
    name: 'metadata-db-down',
    what: "stop Superset's metadata database (PostgreSQL), then start it again",
    fault: (t) => F.metadataDbDown(t),
    detected: (o) => o.up && (o.m.healthDb === 0 || o.m.live === 0),
    story: [
      { say: 'metadata DB checks failed (health_check_failures_total{check="metadata_db"})', check: rose('dbFailures') },
      { say: 'the live set went empty (replicas_live 0)', check: sawAtMost('live', 0) },
      { say: 'clients were told so (proxy_errors_total{code="SHA_PROXY_NO_REPLICA"})', check: rose('noReplica') },
    ],
  },
  'zk-leader-kill': {
    name: 'zk-leader-kill',
    what: 'SIGKILL the ZooKeeper leader, then start it again',
    fault: (t) => F.zkLeaderKill(t),
    detected: zkNoticed,
    story: [{ say: 'no session expired (zk_session_expirations_total unchanged)', check: (v, vic) => !rose('expirations')(v, vic) }],
  },
  'zk-quorum-loss': {
    name: 'zk-quorum-loss',
    what: 'stop 2 of 3 ZooKeeper servers (no quorum), then start them again',
    fault: (t) => F.zkQuorumLoss(t),
    detected: zkNoticed,
    story: [{ say: 'the sidecars marked membership stale and kept routing (membership_stale 1, replicas_live kept)', check: (v, vic) => sawAtLeast('stale', 1)(v, vic) && !sawAtMost('live', 0)(v, vic) }],
  },
  'zk-outage': {
    name: 'zk-outage',
    what: 'SIGSTOP every ZooKeeper server past the session timeout, then SIGCONT',
    fault: (t) => F.zkOutage(t),
    detected: zkNoticed,
    story: [{ say: 'the sidecars marked membership stale and kept routing (membership_stale 1, replicas_live kept)', check: (v, vic) => sawAtLeast('stale', 1)(v, vic) && !sawAtMost('live', 0)(v, vic) }],
    minFaultMs: (t) => (t.zookeeper?.sessionTimeoutMs ?? 10_000) + 4000,
  },
  'sidecar-crash': {
    name: 'sidecar-crash',
    what: 'SIGKILL one superset-ha sidecar, then start it again',
    fault: F.sidecarCrash,
    // The system's own reaction: its replica's znode expires and the other sidecars stop routing to it.
    detected: (o, _b, v) => o.up && o.sidecar !== v.sidecar.id && !routesTo(o, v.replica.id),
    story: [{ say: "the other sidecars saw its replica's registration go (replicas_live dropped)", check: (v, vic) => sawAtMost('live', v.replicaCount - 1, 'others')(v, vic) }],
    counts: (e, v) => e.sidecar !== v.sidecar.id,
    minFaultMs: (t) => (t.zookeeper?.sessionTimeoutMs ?? 10_000) + 4000,
  },
  'zk-partition': {
    name: 'zk-partition',
    what: 'cut one sidecar from ZooKeeper (Toxiproxy blackhole) while it still reaches every replica, then reconnect it',
    fault: F.zkPartition,
    detected: (o, b, v) => o.up && ((o.sidecar === v.sidecar.id && zkNoticed(o, b)) || (o.sidecar !== v.sidecar.id && !routesTo(o, v.replica.id))),
    story: [{ say: 'the cut-off sidecar marked its membership stale and kept routing', check: (v, vic) => sawAtLeast('stale', 1, 'victim')(v, vic) && !sawAtMost('live', 0, 'victim')(v, vic) }],
    minFaultMs: (t) => (t.zookeeper?.sessionTimeoutMs ?? 10_000) + 4000,
  },
};
