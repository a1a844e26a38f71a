import { latency, UNSAFE_ROUTES, type LedgerEntry, type PhaseMarks } from './ledger.ts';
import type { Observation } from './observer.ts';
import type { Scenario, StoryView } from './scenarios.ts';
import type { Victim } from './faults.ts';

/** How many times each unsafe request ran, from the system's own records (Superset's query table, upstream logs). */
export type ExecutionCounts = ReadonlyMap<number, number>;

export type Lat = { n: number; p50: number; p99: number; max: number } | null;

export interface Figures {
  requests: number;
  /** Requests the scenario's error figures count (sidecar-crash leaves out those sent to the crashed sidecar). */
  counted: number;
  failed: number;
  indeterminate: number;
  clientErrors: number;
  /**
   * Unsafe requests already in flight when the fault landed, answered "may have run" (indeterminate): no proxy
   * can save those (the replica may have executed them), so the judged error count leaves them out.
   */
  inFlightAtFault: number;
  /** Client errors the verdict judges: clientErrors minus inFlightAtFault. */
  judgedErrors: number;
  clientErrorPct: number;
  /** Errors before the fault: the baseline was not clean, so errors cannot all be put down to the fault. */
  steadyErrors: number;
  shed: number;
  errorCodes: Record<string, number>;
  unsafeSent: number;
  /** Rows the system recorded for the unsafe requests (null: could not be counted). */
  unsafeExecuted: number | null;
  /** Unsafe requests that ran more than once (the extra runs). */
  replayedUnsafe: number | null;
  /** Unsafe requests the client saw fail or time out but the system ran anyway. */
  unsafeRanThoughFailed: number | null;
  /** Unsafe requests answered ok with no record (the count is not trustworthy then). */
  unsafeOkNotRecorded: number | null;
  detectS: number | null;
  isolateS: number | null;
  /** How long the healing action took (restarting a Superset replica boots it). */
  healS: number | null;
  /** From the end of healing until every sidecar routed to the full set again. */
  recoverS: number | null;
  /** Requests the routers sent to the failed replica after every router had isolated it (their own counter). */
  sentToFailedAfterIsolation: number | null;
  /** Times a sidecar routed to the failed replica again after it had been isolated, while the fault was on. */
  flaps: number;
  /** Before the fault; while it is on; after recovery (the recovery phase itself, a replica booting, is in none). */
  latency: { before: Lat; during: Lat; after: Lat };
  story: { say: string; ok: boolean }[];
  metricsTold: boolean | null;
}

const secs = (ms: number) => Math.round(ms / 100) / 10;

/** Builds the before/during/end views of the samples around the fault. */
export function storyView(samples: readonly Observation[], marks: PhaseMarks, replicaCount: number): StoryView {
  const before = new Map<string, Observation>();
  const end = new Map<string, Observation>();
  for (const o of samples) {
    if (o.t < marks.fault && o.up) before.set(o.sidecar, o);
    if (o.up) end.set(o.sidecar, o);
  }
  return { before, during: samples.filter((o) => o.t >= marks.fault && o.t <= marks.heal), end, replicaCount };
}

export function computeFigures(args: {
  scenario: Scenario;
  victim: Victim;
  entries: readonly LedgerEntry[];
  samples: readonly Observation[];
  marks: PhaseMarks;
  /** ms after healing when every sidecar routed to the full set again; undefined: not seen. */
  recoveredAt: number | undefined;
  executions: ExecutionCounts | null;
  shed: number;
  replicaCount: number;
  /** When the healing action finished (ms since start); recovery is counted from here. */
  healedAt?: number | undefined;
  /** When the fault was seen to have landed (ms since start); the injection itself takes a moment. */
  landedAt?: number | undefined;
}): Figures {
  const { scenario, victim, entries, samples, marks } = args;
  const counted = entries.filter((e) => scenario.counts?.(e, victim) ?? true);
  const failed = counted.filter((e) => e.outcome === 'failed').length;
  const indeterminate = counted.filter((e) => e.outcome === 'indeterminate').length;
  const landedAt = args.landedAt ?? marks.fault;
  const inFlightAtFault = counted.filter((e) => e.outcome === 'indeterminate' && UNSAFE_ROUTES.has(e.route) && e.start <= landedAt && e.end >= marks.fault).length;
  const errorCodes: Record<string, number> = {};
  for (const e of counted) if (e.outcome !== 'ok') errorCodes[e.code ?? String(e.status)] = (errorCodes[e.code ?? String(e.status)] ?? 0) + 1;

  const unsafe = entries.filter((e) => UNSAFE_ROUTES.has(e.route));
  let replayed: number | null = null;
  let ranThoughFailed: number | null = null;
  let okNotRecorded: number | null = null;
  let executed: number | null = null;
  if (args.executions !== null) {
    const ex = args.executions;
    replayed = 0;
    ranThoughFailed = 0;
    okNotRecorded = 0;
    executed = 0;
    for (const e of unsafe) {
      const n = ex.get(e.seq) ?? 0;
      executed += n;
      if (n > 1) replayed += n - 1;
      if (n > 0 && e.outcome !== 'ok') ranThoughFailed++;
      if (n === 0 && e.outcome === 'ok') okNotRecorded++;
    }
  }

  // Detection: the first sample after the fault in which any sidecar shows it noticed.
  const before = new Map<string, Observation>();
  for (const o of samples) if (o.t < marks.fault && o.up) before.set(o.sidecar, o);
  const during = samples.filter((o) => o.t >= marks.fault && o.t <= marks.heal);
  const det = during.find((o) => scenario.detected(o, before.get(o.sidecar), victim));
  const detectS = det ? secs(det.t - marks.fault) : null;

  // Isolation: from this sample on, until healing, no sidecar routes to the failed part.
  let isolateS: number | null = null;
  let flaps = 0;
  let sentAfter: number | null = null;
  const iso = scenario.isolated;
  if (iso !== undefined) {
    const times = [...new Set(during.map((o) => o.t))].sort((a, b) => a - b);
    const allIsolatedAt = (t: number) => during.filter((o) => o.t === t).every((o) => iso(o, victim));
    let from: number | undefined;
    let wasIsolated = false;
    for (const t of times) {
      if (allIsolatedAt(t)) {
        from ??= t;
        wasIsolated = true;
      } else {
        if (wasIsolated) flaps++;
        wasIsolated = false;
        from = undefined;
      }
    }
    if (from !== undefined) {
      isolateS = secs(from - marks.fault);
      // The routers' own count of attempts to the victim, from isolation until healing.
      const sum = (t: number) => during.filter((o) => o.t === t && o.up).reduce((s, o) => s + (o.m.toVictim ?? 0), 0);
      const lastT = times[times.length - 1]!;
      sentAfter = Math.max(0, sum(lastT) - sum(from));
    }
  }

  const view = storyView(samples, marks, args.replicaCount);
  const haveMetrics = view.before.size > 0 && view.end.size > 0 && during.some((o) => o.up);
  const story = haveMetrics ? scenario.story.map((s) => ({ say: s.say, ok: s.check(view, victim) })) : [];
  const inPhase = (...ps: LedgerEntry['phase'][]) => entries.filter((e) => ps.includes(e.phase) && (scenario.counts?.(e, victim) ?? true));
  return {
    requests: entries.length,
    counted: counted.length,
    failed,
    indeterminate,
    clientErrors: failed + indeterminate,
    inFlightAtFault,
    judgedErrors: failed + indeterminate - inFlightAtFault,
    clientErrorPct: counted.length === 0 ? 0 : Math.round(((failed + indeterminate - inFlightAtFault) / counted.length) * 10000) / 100,
    // Only those answered before the fault: a slow request that started before it and failed after is the fault's.
    steadyErrors: counted.filter((e) => e.end < marks.fault && e.outcome !== 'ok').length,
    shed: args.shed,
    errorCodes,
    unsafeSent: unsafe.length,
    unsafeExecuted: executed,
    replayedUnsafe: replayed,
    unsafeRanThoughFailed: ranThoughFailed,
    unsafeOkNotRecorded: okNotRecorded,
    detectS,
    isolateS,
    healS: args.healedAt === undefined ? null : secs(args.healedAt - marks.heal),
    recoverS: args.recoveredAt === undefined ? null : secs(args.recoveredAt - (args.healedAt ?? marks.heal)),
    sentToFailedAfterIsolation: sentAfter,
    flaps,
    latency: { before: latency(inPhase('steady')), during: latency(inPhase('fault')), after: latency(inPhase('after')) },
    story,
    metricsTold: haveMetrics ? story.every((s) => s.ok) : null,
  };
}
