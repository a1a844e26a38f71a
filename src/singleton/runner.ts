import { spawn as nodeSpawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { backoffDelay, type BackoffPolicy } from '../backoff.ts';
import { ErrorCode, SidecarError } from '../errors.ts';

/** The little of a ChildProcess the runner needs (tests hand in a fake). */
export interface ChildLike extends EventEmitter {
  readonly pid?: number | undefined;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
}

export interface ProcessOps {
  /** Starts `argv` as the leader of a new process group. */
  spawn(argv: readonly string[], env: NodeJS.ProcessEnv): ChildLike;
  /** Signals the whole process group; false if it no longer exists. */
  killGroup(pgid: number, signal: NodeJS.Signals): boolean;
}

export const realProcessOps: ProcessOps = {
  spawn(argv, env) {
    // detached: the child leads a new process group (setsid), so one signal reaches everything it forked.
    return nodeSpawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  },
  killGroup(pgid, signal) {
    try {
      process.kill(-pgid, signal);
      return true;
    } catch {
      return false; // ESRCH: nothing left in the group
    }
  },
};

export interface RunnerOptions {
  readonly command: readonly string[];
  /** SIGTERM to the group, then SIGKILL when it has not exited after this long. */
  readonly stopTimeoutMs: number;
  readonly restart: BackoffPolicy;
  /** A child that ran at least this long restarts from the first backoff step after its next exit. */
  readonly stableMs: number;
  /**
   * Run the command under `setpriv --pdeathsig KILL`, so it dies with the sidecar even when the sidecar is
   * SIGKILLed and can stop nothing itself: otherwise an orphaned beat would run beside the next leader's.
   */
  readonly dieWithSidecar: boolean;
  readonly env?: NodeJS.ProcessEnv;
  readonly ops?: ProcessOps;
}

export interface RunnerEvents {
  started: [{ pid: number; restart: boolean }];
  exited: [{ pid: number; code: number | null; signal: string | null; expected: boolean; ranMs: number }];
  /** The child exited on its own while it should run; it is started again after `inMs`. */
  restartScheduled: [{ error: SidecarError; inMs: number }];
  /** It ignored SIGTERM for stopTimeoutMs: the group got SIGKILL. */
  killed: [{ pid: number; error: SidecarError }];
  output: [{ pid: number; stream: 'stdout' | 'stderr'; line: string }];
}

const MAX_LINE = 4_000;

interface Running {
  readonly child: ChildLike;
  readonly pid: number;
  readonly startedAt: number;
  readonly exited: Promise<void>;
  stopping: boolean;
}

/**
 * Runs one command while it is wanted (this sidecar leads) and never otherwise: start on want, stop (the
 * whole group, SIGTERM then SIGKILL) on unwant, restart with backoff when it exits by itself. Starts and stops
 * are serial, so a stop always completes before the next start: there is never more than one child.
 */
export class SingletonRunner extends EventEmitter<RunnerEvents> {
  readonly #opts: RunnerOptions;
  readonly #ops: ProcessOps;
  #wanted = false;
  #closed = false;
  #running: Running | undefined;
  #driving: Promise<void> | undefined;
  #dirty = false;
  #restartTimer: NodeJS.Timeout | undefined;
  #failures = 0;
  #restartPending = false;

  constructor(opts: RunnerOptions) {
    super();
    if (opts.command.length === 0) throw new SidecarError(ErrorCode.CONFIG_INVALID, 'the singleton command is empty');
    this.#opts = opts;
    this.#ops = opts.ops ?? realProcessOps;
  }

  get running(): boolean {
    return this.#running !== undefined;
  }

  get pid(): number | null {
    return this.#running?.pid ?? null;
  }

  /** Run (true) or stop (false); resolves when the child is running or gone accordingly. */
  async setWanted(wanted: boolean): Promise<void> {
    if (this.#closed && wanted) return;
    this.#wanted = wanted;
    if (!wanted) this.#clearRestart();
    await this.#drive();
  }

  /** Stops the child (if any) and starts nothing again; safe twice. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.setWanted(false);
  }

  #drive(): Promise<void> {
    this.#dirty = true;
    this.#driving ??= this.#loop().finally(() => (this.#driving = undefined));
    return this.#driving;
  }

  async #loop(): Promise<void> {
    while (this.#dirty) {
      this.#dirty = false;
      if (this.#wanted && this.#running === undefined && this.#restartTimer === undefined) this.#start();
      else if (!this.#wanted && this.#running !== undefined) await this.#stop(this.#running);
    }
  }

  #start(): void {
    const restart = this.#restartPending;
    this.#restartPending = false;
    const argv = this.#opts.dieWithSidecar ? ['setpriv', '--pdeathsig', 'KILL', '--', ...this.#opts.command] : [...this.#opts.command];
    let child: ChildLike;
    try {
      child = this.#ops.spawn(argv, this.#opts.env ?? process.env);
    } catch (err) {
      this.#scheduleRestart(new SidecarError(ErrorCode.SINGLETON_SPAWN_FAILED, 'could not start the singleton command', { cause: err, details: { command: this.#opts.command } }));
      return;
    }
    if (child.pid === undefined) {
      // spawn() reports ENOENT and friends asynchronously, as an 'error' event, with no pid.
      child.once('error', () => undefined);
      this.#scheduleRestart(new SidecarError(ErrorCode.SINGLETON_SPAWN_FAILED, 'could not start the singleton command', { details: { command: this.#opts.command } }));
      return;
    }
    const pid = child.pid;
    const startedAt = Date.now();
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code: number | null, signal: string | null) => {
        const r = this.#running;
        const expected = r?.stopping ?? true;
        if (r?.pid === pid) this.#running = undefined;
        // Whatever the child forked and left behind goes with it: never a stray beat.
        this.#ops.killGroup(pid, 'SIGKILL');
        const ranMs = Date.now() - startedAt;
        this.emit('exited', { pid, code, signal, expected, ranMs });
        if (!expected) {
          if (ranMs >= this.#opts.stableMs) this.#failures = 0;
          this.#scheduleRestart(
            new SidecarError(ErrorCode.SINGLETON_EXITED, 'the singleton command exited on its own', { details: { pid, code, signal, ranMs } }),
          );
        }
        resolve();
      });
    });
    child.on('error', () => undefined); // a failed kill() is reported by the exit that follows, or not at all
    this.#running = { child, pid, startedAt, exited, stopping: false };
    this.#pipe(child.stdout, pid, 'stdout');
    this.#pipe(child.stderr, pid, 'stderr');
    this.emit('started', { pid, restart });
  }

  #scheduleRestart(error: SidecarError): void {
    if (!this.#wanted || this.#closed) return;
    const inMs = Math.max(1, backoffDelay(this.#opts.restart, this.#failures++));
    this.#restartPending = true;
    this.emit('restartScheduled', { error, inMs });
    this.#clearRestart();
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      void this.#drive();
    }, inMs);
  }

  #clearRestart(): void {
    if (this.#restartTimer !== undefined) clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
  }

  async #stop(r: Running): Promise<void> {
    r.stopping = true;
    this.#ops.killGroup(r.pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), this.#opts.stopTimeoutMs)));
    const timedOut = await Promise.race([r.exited.then(() => false), late]);
    clearTimeout(timer);
    if (timedOut) {
      this.#ops.killGroup(r.pid, 'SIGKILL');
      this.emit('killed', {
        pid: r.pid,
        error: new SidecarError(ErrorCode.SINGLETON_STOP_TIMEOUT, 'the singleton command ignored SIGTERM; sent SIGKILL', {
          details: { pid: r.pid, stopTimeoutMs: this.#opts.stopTimeoutMs },
        }),
      });
      await r.exited; // SIGKILL cannot be ignored: only a process stuck in the kernel outlives it
    }
  }

  #pipe(stream: Readable | null, pid: number, name: 'stdout' | 'stderr'): void {
    if (stream === null) return;
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      this.emit('output', { pid, stream: name, line: line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}…` : line });
    });
  }
}
