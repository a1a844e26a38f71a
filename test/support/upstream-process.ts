import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const MAIN = join(import.meta.dirname, 'upstream-main.ts');

/** A programmable upstream in a child process (see upstream-main.ts). */
export class UpstreamProcess {
  readonly id: string;
  readonly received: { xid: string; method: string; path: string }[] = [];
  readonly #child: ChildProcess;
  readonly #port: Promise<number>;

  constructor(id: string, args: string[] = []) {
    this.id = id;
    this.#child = spawn(process.execPath, [MAIN, id, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.#port = new Promise((resolve, reject) => {
      this.#child.once('exit', (code) => reject(new Error(`upstream ${id} exited (${code})`)));
      createInterface({ input: this.#child.stdout! }).on('line', (line) => {
        const [kind, a, b, c] = line.split(' ');
        if (kind === 'listening') resolve(Number(a));
        else if (kind === 'recv') this.received.push({ xid: a!, method: b!, path: c! });
      });
    });
  }

  async url(): Promise<string> {
    return `http://127.0.0.1:${await this.#port}`;
  }

  signal(sig: NodeJS.Signals): void {
    this.#child.kill(sig);
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise((r) => this.#child.once('exit', r));
    this.#child.kill('SIGCONT');
    this.#child.kill('SIGKILL');
    await exited;
  }
}
