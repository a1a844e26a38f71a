import type { Progress } from './runner.ts';

/** One line, rewritten in place on a TTY (nothing otherwise: logs stay clean when piped). */
export class TtyProgress implements Progress {
  readonly #out: NodeJS.WriteStream;
  #last = '';
  constructor(out: NodeJS.WriteStream) {
    this.#out = out;
  }
  update(s: { scenario: string; phase: string; t: number; requests: number; errors: number; inFlight: number }): void {
    if (!this.#out.isTTY) return;
    const line = `${s.scenario}  ${s.phase.padEnd(12)} ${(s.t / 1000).toFixed(0).padStart(4)} s  requests ${s.requests}  errors ${s.errors}  in flight ${s.inFlight}`;
    if (line === this.#last) return;
    this.#last = line;
    this.#out.write(`\r\x1b[2K${line.slice(0, (this.#out.columns || 120) - 1)}`);
  }
  clear(): void {
    if (this.#out.isTTY && this.#last !== '') this.#out.write('\r\x1b[2K');
    this.#last = '';
  }
}
