import { readFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SingletonRunner, type ChildLike, type ProcessOps } from '../../src/singleton/runner.ts';

class FakeChild extends EventEmitter implements ChildLike {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly pid: number;
  constructor(pid: number) {
    super();
    this.pid = pid;
  }
  exit(code: number | null, signal: string | null = null): void {
    this.emit('exit', code, signal);
  }
}

/** Records spawns and group signals; a child "dies" on SIGTERM unless told to ignore it, and always on SIGKILL. */
class FakeOps implements ProcessOps {
  readonly children: FakeChild[] = [];
  readonly signals: string[] = [];
  readonly argv: string[][] = [];
  ignoreTerm = false;
  #next = 100;
  spawn(argv: readonly string[]): ChildLike {
    this.argv.push([...argv]);
    const c = new FakeChild(this.#next++);
    this.children.push(c);
    return c;
  }
  killGroup(pgid: number, signal: NodeJS.Signals): boolean {
    this.signals.push(`${signal}:${pgid}`);
    const c = this.children.find((x) => x.pid === pgid && x.listenerCount('exit') > 0);
    if (c && (signal === 'SIGKILL' || (signal === 'SIGTERM' && !this.ignoreTerm))) queueMicrotask(() => c.exit(null, signal));
    return c !== undefined;
  }
  alive(): number {
    return this.children.filter((c) => c.listenerCount('exit') > 0).length;
  }
}

function runner(ops: ProcessOps, over: Partial<ConstructorParameters<typeof SingletonRunner>[0]> = {}): SingletonRunner {
  return new SingletonRunner({
    command: ['celery', 'beat'],
    stopTimeoutMs: 3_000,
    restart: { baseMs: 1_000, maxMs: 8_000 },
    stableMs: 30_000,
    dieWithSidecar: true,
    ops,
    ...over,
  });
}

afterEach(() => {
  vi.useRealTimers();
});

describe('SingletonRunner', () => {
  it('starts under setpriv --pdeathsig when wanted and stops the whole group with SIGTERM when not', async () => {
    const ops = new FakeOps();
    const r = runner(ops);
    const events: string[] = [];
    r.on('started', ({ pid }) => events.push(`started:${pid}`));
    r.on('exited', ({ pid, expected }) => events.push(`exited:${pid}:${expected}`));
    await r.setWanted(true);
    expect(ops.argv).toEqual([['setpriv', '--pdeathsig', 'KILL', '--', 'celery', 'beat']]);
    expect(r.running).toBe(true);
    await r.setWanted(true); // idempotent: still one child
    expect(ops.children).toHaveLength(1);
    await r.setWanted(false);
    expect(r.running).toBe(false);
    expect(ops.signals).toEqual(['SIGTERM:100', 'SIGKILL:100']); // the SIGKILL sweeps leftovers of the group
    expect(events).toEqual(['started:100', 'exited:100:true']);
  });

  it('escalates to SIGKILL after stopTimeoutMs when SIGTERM is ignored', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const ops = new FakeOps();
    ops.ignoreTerm = true;
    const r = runner(ops);
    const killed: string[] = [];
    r.on('killed', ({ error }) => killed.push(error.code));
    await r.setWanted(true);
    const stopping = r.setWanted(false);
    await vi.advanceTimersByTimeAsync(2_999);
    expect(r.running).toBe(true);
    expect(ops.signals).toEqual(['SIGTERM:100']);
    await vi.advanceTimersByTimeAsync(1);
    await stopping;
    expect(r.running).toBe(false);
    expect(killed).toEqual(['SHA_SINGLETON_STOP_TIMEOUT']);
    expect(ops.signals.slice(0, 2)).toEqual(['SIGTERM:100', 'SIGKILL:100']);
  });

  it('restarts a command that exits by itself, with growing backoff, only while wanted', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const ops = new FakeOps();
    const r = runner(ops, { restart: { baseMs: 1_000, maxMs: 8_000 } });
    const delays: number[] = [];
    r.on('restartScheduled', ({ inMs, error }) => {
      expect(error.code).toBe('SHA_SINGLETON_EXITED');
      delays.push(inMs);
    });
    const restarts: boolean[] = [];
    r.on('started', ({ restart }) => restarts.push(restart));
    await r.setWanted(true);
    ops.children[0]!.exit(1);
    expect(r.running).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(ops.children).toHaveLength(2);
    ops.children[1]!.exit(1);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(ops.children).toHaveLength(3);
    expect(delays[0]).toBeLessThanOrEqual(1_000);
    expect(delays[1]).toBeLessThanOrEqual(2_000);
    expect(restarts).toEqual([false, true, true]);
    // Exits while a restart is pending and then unwanted: nothing starts again.
    ops.children[2]!.exit(1);
    await r.setWanted(false);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(ops.children).toHaveLength(3);
    expect(r.running).toBe(false);
  });

  it('never has two children: a start asked for during a stop waits for the stop', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const ops = new FakeOps();
    ops.ignoreTerm = true;
    const r = runner(ops);
    let maxAlive = 0;
    r.on('started', () => (maxAlive = Math.max(maxAlive, ops.alive())));
    await r.setWanted(true);
    const stop = r.setWanted(false);
    const start = r.setWanted(true);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(ops.children).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(2_000);
    await Promise.all([stop, start]);
    expect(ops.children).toHaveLength(2);
    expect(maxAlive).toBe(1);
    ops.ignoreTerm = false;
    await r.close();
    await r.close();
    expect(r.running).toBe(false);
  });

  it('hands the child\'s output lines to the log, bounded', async () => {
    const ops = new FakeOps();
    const r = runner(ops);
    const lines: string[] = [];
    r.on('output', ({ stream, line }) => lines.push(`${stream}:${line.length > 20 ? line.length : line}`));
    await r.setWanted(true);
    ops.children[0]!.stderr.write('beat: Starting...\n');
    ops.children[0]!.stdout.write(`${'x'.repeat(10_000)}\n`);
    await new Promise((res) => setImmediate(res));
    expect(lines).toEqual(['stderr:beat: Starting...', 'stdout:4001']);
    await r.close();
  });

  it('on a real process group: SIGKILLs a child that traps SIGTERM, and its grandchildren with it', async () => {
    const r = new SingletonRunner({
      command: ['sh', '-c', 'trap "" TERM; sleep 300 & echo "grandchild $!"; wait'],
      stopTimeoutMs: 300,
      restart: { baseMs: 100, maxMs: 100 },
      stableMs: 1_000,
      dieWithSidecar: true,
    });
    let grandchild = 0;
    r.on('output', ({ line }) => {
      const m = /^grandchild (\d+)$/.exec(line);
      if (m) grandchild = Number(m[1]);
    });
    const killed: number[] = [];
    r.on('killed', ({ pid }) => killed.push(pid));
    await r.setWanted(true);
    const pid = r.pid!;
    for (let i = 0; i < 100 && grandchild === 0; i++) await new Promise((res) => setTimeout(res, 20));
    expect(grandchild).toBeGreaterThan(0);
    await r.close();
    expect(killed).toEqual([pid]);
    expect(alive(pid)).toBe(false);
    for (let i = 0; i < 50 && alive(grandchild); i++) await new Promise((res) => setTimeout(res, 20));
    expect(alive(grandchild)).toBe(false);
  });
});

/** Running or stopped, not a zombie waiting for a reaper (an orphan's reaper may be a slow or absent init). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
