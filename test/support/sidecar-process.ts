import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'main.ts');

export type LogLine = Record<string, unknown> & { msg?: string; event?: string; code?: string };

/**
 * A real sidecar process (`node src/main.ts run --config FILE`), for the faults that only a separate
 * process can show: SIGKILL, SIGSTOP past the session timeout, SIGTERM.
 */
export class SidecarProcess {
  readonly logs: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly #child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(config: Record<string, unknown>) {
    const dir = mkdtempSync(join(tmpdir(), 'sha-sidecar-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify(config));
    this.#child = spawn(process.execPath, [MAIN, 'run', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    createInterface({ input: this.#child.stdout! }).on('line', (line) => {
      try {
        this.logs.push(JSON.parse(line) as LogLine);
      } catch {
        this.logs.push({ msg: line });
      }
    });
    createInterface({ input: this.#child.stderr! }).on('line', (line) => this.stderr.push(line));
    this.exited = new Promise((resolve) => this.#child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.#child.pid!;
  }

  signal(sig: NodeJS.Signals): void {
    this.#child.kill(sig);
  }

  /** Waits for a log line matching `pred`, looking at lines already seen too. */
  async waitForLog(pred: (l: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.logs.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) {
        throw new Error(`no matching log line within ${timeoutMs} ms; last lines:\n${this.logs.slice(-10).map((l) => JSON.stringify(l)).join('\n')}\n${this.stderr.join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async adminUrl(): Promise<string> {
    const started = await this.waitForLog((l) => l.event === 'started');
    const a = started.admin as { host: string; port: number };
    return `http://${a.host}:${a.port}`;
  }

  async proxyUrl(): Promise<string> {
    const started = await this.waitForLog((l) => l.event === 'started');
    const a = started.proxy as { host: string; port: number } | null;
    if (a === null) throw new Error('this sidecar runs no proxy');
    return `http://${a.host}:${a.port}`;
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#child.kill('SIGCONT');
    this.#child.kill('SIGKILL');
    await this.exited;
  }
}

/** Runs the CLI to completion (config errors, usage). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

export function writeConfig(obj: unknown, ext = 'json'): string {
  const dir = mkdtempSync(join(tmpdir(), 'sha-cli-'));
  const file = join(dir, `config.${ext}`);
  writeFileSync(file, typeof obj === 'string' ? obj : JSON.stringify(obj));
  return file;
}
