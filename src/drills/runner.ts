import { ErrorCode, errorFields, SidecarError } from '../errors.ts';
import { thresholdsFor, type DrillConfig } from './config.ts';
import { countExecutions } from './executions.ts';
import type { Fault, Victim } from './faults.ts';
import { computeFigures, type Figures } from './figures.ts';
import { Ledger, phaseAt, type LedgerEntry, type PhaseMarks } from './ledger.ts';
import { Load, type LoadRequest } from './load.ts';
import { Observer, type Observation } from './observer.ts';
import type { Scenario } from './scenarios.ts';
import type { Target } from './target.ts';
import { judge, type Verdict } from './verdict.ts';

export interface TimelineEvent {
  /** ms since the scenario's start. */
  readonly t: number;
  readonly kind: 'setup' | 'steady' | 'fault' | 'landed' | 'not-landed' | 'heal' | 'healed' | 'heal-failed' | 'recovered' | 'not-recovered' | 'teardown' | 'error' | 'interrupted';
  readonly detail: string;
}

export interface ScenarioResult {
  readonly name: string;
  readonly what: string;
  readonly victim: { replica: string; sidecar: string };
  readonly startedAt: string;
  readonly timeline: readonly TimelineEvent[];
  readonly marks: PhaseMarks;
  readonly figures: Figures;
  readonly verdict: Verdict;
  readonly ledger: readonly LedgerEntry[];
  readonly samples: readonly Observation[];
  readonly notes: readonly string[];
}

export interface Progress {
  update(s: { scenario: string; phase: string; t: number; requests: number; errors: number; inFlight: number }): void;
}

export interface RunContext {
  readonly target: Target;
  readonly config: DrillConfig;
  readonly runId: string;
  readonly make: (seq: number) => LoadRequest;
  readonly signal: AbortSignal;
  readonly progress?: Progress;
  readonly faultMs: number;
  readonly rate: number;
  /**
   * Request numbers, shared by every scenario of a run: the SQL Lab tag carries the number, so numbers must
   * never repeat within a run or one scenario's rows would read as another's replays.
   */
  readonly seq?: { next(): number };
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/** The victim: the last replica and the sidecar beside it (sidecar 0 keeps serving the login and the reads). */
export function pickVictim(t: Target): Victim {
  const replica = t.replicas[t.replicas.length - 1]!;
  const sidecar = t.sidecars.find((s) => s.replica === replica.id) ?? t.sidecars[t.sidecars.length - 1]!;
  return { replica, sidecar };
}

/** Every sidecar answers, routes to every replica, and is not stale. */
export function whole(t: Target, latest: ReadonlyMap<string, Observation>): boolean {
  const ids = t.replicas.map((r) => r.id);
  return t.sidecars.every((sc) => {
    const o = latest.get(sc.id);
    return o !== undefined && o.up && !o.stale && ids.every((id) => o.routable.includes(id)) && (o.m.connected === undefined || o.m.connected === 1);
  });
}

function latestAfter(samples: readonly Observation[], after: number): Map<string, Observation> {
  const m = new Map<string, Observation>();
  for (const o of samples) if (o.t >= after) m.set(o.sidecar, o);
  return m;
}

async function waitWhole(ctx: RunContext, obs: Observer, after: number, ms: number, now: () => number): Promise<number | undefined> {
  const deadline = now() + ms;
  while (now() < deadline) {
    const latest = latestAfter(obs.samples, after);
    if (latest.size === ctx.target.sidecars.length && whole(ctx.target, latest)) return Math.max(...[...latest.values()].map((o) => o.t));
    await sleep(100, AbortSignal.timeout(100));
  }
  return undefined;
}

/**
 * One scenario: steady state checked → fault injected at a known time and verified → held → healed (always:
 * also on errors and Ctrl-C) → recovery awaited → a little more load → judged.
 */
export async function runScenario(ctx: RunContext, scenario: Scenario): Promise<ScenarioResult> {
  const { target, config } = ctx;
  const victim = pickVictim(target);
  const t0 = Date.now();
  const now = () => Date.now() - t0;
  const timeline: TimelineEvent[] = [];
  const notes: string[] = [];
  const event = (kind: TimelineEvent['kind'], detail = '') => timeline.push({ t: now(), kind, detail });
  const ledger = new Ledger();
  const marks: { fault?: number; heal?: number; recovered?: number } = {};
  let phase = 'setup';
  const observer = new Observer(target, victim.replica.id, now, config.run.sampleMs);
  const load = new Load({
    sidecars: target.sidecars,
    make: ctx.make,
    rate: ctx.rate,
    maxInFlight: config.run.maxInFlight,
    clientTimeoutMs: config.run.clientTimeoutS * 1000,
    now,
    phase: (t) => phaseAt(t, marks),
    record: (e) => ledger.add(e),
    nextSeq: () => (ctx.seq ? ctx.seq.next() : ledger.nextSeq()),
  });
  const ticker = setInterval(() => {
    const c = ledger.counts();
    ctx.progress?.update({ scenario: scenario.name, phase, t: now(), requests: c.total, errors: c.failed + c.indeterminate, inFlight: load.inFlight });
  }, 250);

  let fault: Fault | undefined;
  let landed = false;
  let landError: string | undefined;
  let setupDone = false;
  let recoveredAt: number | undefined;
  let healedAt: number | undefined;
  try {
    fault = scenario.fault(target, victim);
    if (fault.setup) {
      event('setup', 're-routing through Toxiproxy');
      await fault.setup();
    }
    setupDone = true;
    observer.start();
    phase = 'steady-check';
    const ready = await waitWhole(ctx, observer, 0, 90_000, now);
    if (ready === undefined) throw new SidecarError(ErrorCode.DRILL_STEADY_STATE, 'steady state not reached within 90 s: not every sidecar routes to every replica');
    phase = 'steady';
    event('steady', `every sidecar routes to ${target.replicas.map((r) => r.id).join(', ')}`);
    load.start();
    await sleep(config.run.steadyS * 1000, ctx.signal);
    if (ctx.signal.aborted) throw new SidecarError(ErrorCode.DRILL_INTERRUPTED, 'interrupted before the fault');
    // The steady-state hypothesis, checked again just before the fault: a system that is already broken
    // teaches nothing about this fault (the verdict is then unknown, and nothing is injected).
    const stillWhole = await waitWhole(ctx, observer, now() - config.run.sampleMs * 2, 30_000, now);
    if (stillWhole === undefined) throw new SidecarError(ErrorCode.DRILL_STEADY_STATE, 'steady state did not hold before the fault: not every sidecar routed to every replica for 30 s');
    phase = 'fault';
    marks.fault = now();
    const said = await fault.inject();
    // At the moment the injection started: the script may take a while (a graceful stop waits for gunicorn).
    timeline.push({ t: marks.fault, kind: 'fault', detail: said || scenario.what });
    try {
      const evidence = await fault.verify();
      landed = true;
      event('landed', evidence);
    } catch (err) {
      landError = (err as Error).message;
      event('not-landed', landError);
    }
    const hold = Math.max(ctx.faultMs, scenario.minFaultMs?.(target) ?? 0);
    await sleep(hold - (now() - marks.fault), ctx.signal);
  } catch (err) {
    event(ctx.signal.aborted ? 'interrupted' : 'error', (err as Error).message);
    notes.push(`${ctx.signal.aborted ? 'interrupted' : 'error'}: ${JSON.stringify(errorFields(err))}`);
  } finally {
    if (marks.fault !== undefined) {
      phase = 'heal';
      marks.heal = now();
      event('heal');
      try {
        await fault!.heal();
        event('healed');
      } catch (err) {
        event('heal-failed', (err as Error).message);
        notes.push(`healing failed: ${(err as Error).message}`);
      }
    }
  }

  if (marks.fault !== undefined) {
    phase = 'recovery';
    // Counted from when healing finished: a replica's own boot (a minute for Superset on a busy machine) is
    // the healing action's time, reported apart, not the sidecars' recovery.
    healedAt = timeline.find((e) => e.kind === 'healed')?.t ?? now();
    recoveredAt = await waitWhole(ctx, observer, healedAt, config.run.recoveryWaitS * 1000, now);
    event(recoveredAt === undefined ? 'not-recovered' : 'recovered', recoveredAt === undefined ? `not whole within ${config.run.recoveryWaitS} s` : '');
    marks.recovered = recoveredAt ?? now();
    phase = 'after';
    await sleep(config.run.afterS * 1000, ctx.signal);
  }
  phase = 'draining load';
  await load.close();
  await observer.close();
  clearInterval(ticker);
  if (fault?.teardown && setupDone) {
    event('teardown');
    await fault.teardown().catch((err: unknown) => notes.push(`teardown failed: ${(err as Error).message}`));
  }

  const m: PhaseMarks = { fault: marks.fault ?? now(), heal: marks.heal ?? now(), recovered: marks.recovered ?? now() };
  const entries = ledger.entries.map((e) => ({ ...e, phase: phaseAt(e.start, m) })).sort((a, b) => a.start - b.start);
  let executions: Map<number, number> | null = null;
  try {
    executions = await countExecutions(target, ctx.runId);
  } catch (err) {
    notes.push(`could not count executions: ${(err as Error).message}`);
  }
  const figures = computeFigures({ scenario, victim, entries, samples: observer.samples, marks: m, recoveredAt, healedAt, executions, shed: load.shed, replicaCount: target.replicas.length, landedAt: timeline.find((e) => e.kind === 'landed')?.t });
  const verdict = judge(figures, thresholdsFor(config, scenario.name), marks.fault === undefined ? { landed: false, error: notes.join('; ') || 'not injected' } : { landed, error: landError });
  return {
    name: scenario.name,
    what: scenario.what,
    victim: { replica: victim.replica.id, sidecar: victim.sidecar.id },
    startedAt: new Date(t0).toISOString(),
    timeline,
    marks: m,
    figures,
    verdict,
    ledger: entries,
    samples: observer.samples,
    notes,
  };
}
