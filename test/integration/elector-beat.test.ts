import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BeatObserver, Broker, beatCommand, pidAlive, senderRuns, venvReady, writeBeatConfig } from '../support/beat.ts';
import { testRoot } from '../support/harness.ts';
import { ZK_CONNECT, redisPyOverlay, superset, zk } from '../support/realparts.ts';
import { sample, scrape } from '../support/scrape.ts';
import { SidecarProcess, type LogLine } from '../support/sidecar-process.ts';

// Production defaults: a 10 s session, stepping down at half of it, 3 s to stop the command.
const SESSION_TIMEOUT_MS = 10_000;

async function until<T>(what: string, fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs: number, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A log line's own timestamp (pino isoTime), so a measurement does not include our polling delay. */
const at = (l: LogLine) => Date.parse(String(l.time));
const started = (after: number) => (l: LogLine) => l.event === 'singleton_started' && at(l) >= after;

describe('elector role: exactly one real Celery beat across three sidecars (real ensemble, Redis broker)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sha-beat-'));
  const sidecars: SidecarProcess[] = [];
  const allLogs: { id: string; logs: LogLine[] }[] = [];
  const broker = new Broker();
  let observer: BeatObserver;

  beforeAll(async () => {
    // Celery comes with Superset's venv: build it if this runs before the end-to-end set-up did (a no-op when
    // it is there; its stamp says when).
    if (!venvReady()) await superset('install');
    expect(venvReady(), 'the Superset venv (scripts/superset.sh install) must exist').toBe(true);
    const overlay = await redisPyOverlay();
    const config = writeBeatConfig(dir);
    await broker.flush();
    const root = testRoot();
    for (const id of ['beat-a', 'beat-b', 'beat-c']) {
      sidecars.push(
        new SidecarProcess({
          roles: { registrar: false, router: false, elector: true },
          zookeeper: { connect: ZK_CONNECT, root, sessionTimeoutMs: SESSION_TIMEOUT_MS },
          replica: { id, url: 'http://127.0.0.1:9' },
          admin: { port: 0 },
          shutdown: { drainDelayMs: 0 },
          elector: { command: beatCommand(config, overlay, join(dir, `${id}.schedule`)) },
        }),
      );
    }
    sidecars.forEach((s, i) => allLogs.push({ id: ['beat-a', 'beat-b', 'beat-c'][i]!, logs: s.logs }));
    observer = new BeatObserver(sidecars, dir).start();
  });

  afterAll(async () => {
    observer?.stop();
    await Promise.all(sidecars.map((s) => s.stop()));
    broker.close();
    await zk('start');
  });

  it('elects one leader, which runs the only beat; the broker gets one task per tick', async () => {
    const first = await until('a first tick in the broker', () => broker.newestOrigin(), 120_000, 200);
    const leader = sidecars.find((s) => s.logs.some((l) => l.event === 'singleton_started' && l.pid === first))!;
    expect(leader).toBeDefined();
    expect(observer.alive()).toEqual([first]);

    // Every sidecar names the same leader, and exactly one says it leads and runs the command.
    const admins = await Promise.all(sidecars.map((s) => s.adminUrl()));
    const views = await Promise.all(admins.map(async (a) => (await (await fetch(`${a}/leader`)).json()) as { leader: { id: string } }));
    const leaderId = views[0]!.leader.id;
    expect(views.map((v) => v.leader.id)).toEqual([leaderId, leaderId, leaderId]);
    const metrics = await Promise.all(admins.map((a) => scrape(a)));
    expect(metrics.map((m) => sample(m, 'superset_ha_is_leader'))).toEqual(sidecars.map((s) => (s === leader ? 1 : 0)));
    expect(metrics.map((m) => sample(m, 'superset_ha_singleton_running'))).toEqual(sidecars.map((s) => (s === leader ? 1 : 0)));

    // One task per tick: over a steady stretch, about one message per second, not two.
    const t0 = Date.now();
    const n0 = await broker.count();
    await new Promise((r) => setTimeout(r, 8_000));
    const n1 = await broker.count();
    const seconds = (Date.now() - t0) / 1000;
    console.log(`[measure] steady state: ${n1 - n0} beat messages in ${seconds.toFixed(1)} s (1 s schedule)`);
    expect(n1 - n0).toBeGreaterThanOrEqual(Math.floor(seconds) - 2);
    expect(n1 - n0).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
  }, 240_000);

  it('leader SIGKILL: its beat dies with it; a new beat starts within about the session timeout', async () => {
    const oldPid = observer.alive()[0]!;
    const leader = sidecars.find((s) => s.logs.some((l) => l.event === 'singleton_started' && l.pid === oldPid))!;
    const t0 = Date.now();
    leader.signal('SIGKILL');
    await until('the old beat to die with its sidecar', () => !pidAlive(oldPid), 5_000, 10);
    const diedMs = Date.now() - t0;
    const others = sidecars.filter((s) => s !== leader);
    const startLine = await until('a new beat', () => others.map((s) => s.logs.find(started(t0))).find((l) => l !== undefined), 3 * SESSION_TIMEOUT_MS);
    const newPid = startLine.pid as number;
    const startMs = at(startLine) - t0;
    await until('a tick from the new beat', async () => (await broker.newestOrigin()) === newPid, 120_000, 100);
    const tickMs = Date.now() - t0;
    sidecars.splice(sidecars.indexOf(leader), 1);
    console.log(
      `[measure] leader SIGKILL → old beat gone ${diedMs} ms; new beat started ${startMs} ms; its first tick in the broker ${tickMs} ms (session timeout ${SESSION_TIMEOUT_MS} ms)`,
    );
    expect(diedMs).toBeLessThan(2_000); // setpriv --pdeathsig: no orphaned beat beside the next one
    // The ensemble expires the session within timeout ± one tick (2 s); then the successor is woken.
    expect(startMs).toBeGreaterThan(SESSION_TIMEOUT_MS - 2_000);
    expect(startMs).toBeLessThan(SESSION_TIMEOUT_MS + 5_000);
  }, 240_000);

  it('ZooKeeper leader killed: sessions move to another server, never two beats', async () => {
    const before = observer.alive();
    expect(before).toHaveLength(1);
    const killed = await zk('kill-leader');
    await new Promise((r) => setTimeout(r, SESSION_TIMEOUT_MS + 5_000));
    console.log(`[measure] ZooKeeper leader (server ${killed}) killed: beats alive before ${before.join(',')}, after ${observer.alive().join(',')}`);
    await zk('start');
    await until('one beat running', () => observer.alive().length === 1, 120_000);
  }, 240_000);

  it('whole ensemble paused past the session timeout: the leader stops its beat before the session can expire; one beat after resume', async () => {
    const [pid] = await until('one beat', () => (observer.alive().length === 1 ? observer.alive() : undefined), 120_000);
    const t0 = Date.now();
    await zk('pause-all');
    try {
      await until('the beat to stop while ZooKeeper is unreachable', () => !pidAlive(pid!), SESSION_TIMEOUT_MS + 5_000, 10);
      const stoppedMs = Date.now() - t0;
      console.log(`[measure] ensemble paused → beat stopped after ${stoppedMs} ms (steps down at 0.5 × ${SESSION_TIMEOUT_MS} ms after the last contact, 3 s stop deadline)`);
      expect(stoppedMs).toBeLessThan(SESSION_TIMEOUT_MS);
      const quiet = await broker.count();
      await new Promise((r) => setTimeout(r, Math.max(0, t0 + SESSION_TIMEOUT_MS + 4_000 - Date.now())));
      expect(await broker.count()).toBe(quiet); // nobody beats while nobody can know who leads
      expect(observer.alive()).toEqual([]);
    } finally {
      await zk('resume-all');
    }
    const t1 = Date.now();
    const line = await until('a beat after resume', () => sidecars.map((s) => s.logs.find(started(t1))).find((l) => l !== undefined), 60_000);
    await until('its first tick', async () => (await broker.newestOrigin()) === line.pid, 120_000, 100);
    console.log(`[measure] ensemble resumed → new beat started ${at(line) - t1} ms later`);
  }, 240_000);

  it('leader SIGTERM (drain): its beat stops first, then the next sidecar takes over at once, not after a session timeout', async () => {
    const [pid] = await until('one beat', () => (observer.alive().length === 1 ? observer.alive() : undefined), 120_000);
    const leader = sidecars.find((s) => s.logs.some((l) => l.event === 'singleton_started' && l.pid === pid))!;
    const t0 = Date.now();
    leader.signal('SIGTERM');
    const exited = await until('the old beat to be stopped', () => leader.logs.find((l) => l.event === 'singleton_exited' && l.pid === pid), 10_000);
    const others = sidecars.filter((s) => s !== leader);
    const next = await until('the next beat', () => others.map((s) => s.logs.find(started(t0))).find((l) => l !== undefined), 10_000);
    expect(await leader.exited).toMatchObject({ code: 0 });
    sidecars.splice(sidecars.indexOf(leader), 1);
    console.log(`[measure] leader SIGTERM → its beat stopped ${at(exited) - t0} ms; next beat started ${at(next) - t0} ms`);
    expect(at(next)).toBeGreaterThanOrEqual(at(exited));
    expect(at(next) - t0).toBeLessThan(SESSION_TIMEOUT_MS / 2);
    await until('its first tick', async () => (await broker.newestOrigin()) === next.pid, 120_000, 100);
  }, 240_000);

  it('over everything: never two beats (processes) and never two senders interleaved (broker)', async () => {
    await new Promise((r) => setTimeout(r, 3_000));
    observer.stop();
    const messages = await broker.messages();
    const runs = senderRuns(messages);
    console.log(
      `[measure] ${observer.lives.size} beat processes over the test, at most ${observer.maxAlive} alive at once (sampled every 20 ms); ${messages.length} broker messages in ${runs.length} runs: ${runs.map((r) => `${r.origin}×${r.count}`).join(' ')}`,
    );
    if (observer.overlaps.length > 0) {
      // The sidecars' own account of who led and ran what, to find the race.
      const timeline = allLogs
        .flatMap(({ id, logs }) =>
          logs.filter((l) => (typeof l.event === 'string' && /leader|singleton_(started|exited)|zk_s/.test(l.event)) || l.code !== undefined).map((l) => ({ sidecar: id, line: l })),
        )
        .sort((a, b) => at(a.line) - at(b.line))
        .map(({ sidecar, line }) => `${String(line.time)} ${sidecar} ${JSON.stringify({ ...line, time: undefined, service: undefined, hostname: undefined })}`);
      console.log(`overlaps: ${JSON.stringify(observer.overlaps.slice(0, 5))}\n${timeline.join('\n')}`);
    }
    expect(observer.overlaps).toEqual([]);
    expect(observer.maxAlive).toBe(1);
    expect(observer.unreported()).toEqual([]);
    // Each beat's messages form one contiguous run: two beats at once would interleave.
    expect(new Set(runs.map((r) => r.origin)).size).toBe(runs.length);
    // And each sent about one per second of its life, not more.
    for (const r of runs) {
      const life = observer.lives.get(r.origin);
      expect(life, `beat ${r.origin} was observed`).toBeDefined();
      expect(r.count).toBeLessThanOrEqual(Math.ceil((life!.last - life!.first) / 1000) + 2);
    }
  });
});
