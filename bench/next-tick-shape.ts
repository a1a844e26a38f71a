// process.nextTick's cost before and after full GCs, with and without src/tick-shape.ts's pin, each in a
// fresh process, measured in the same run (bench/README.md, "nextTick and full GCs"):
//   node bench/next-tick-shape.ts [ROUNDS]
// A child (what the parent spawns, and what test/tick-shape.test.ts runs) does the measuring:
//   node --expose-gc --allow-natives-syntax bench/next-tick-shape.ts child pinned|unpinned [ROUNDS]
// and prints one JSON line: ns per tick in each round (a full GC after each), and for a pinned child
// whether a tick object made after all the GCs still has the pinned one's map (V8's %HaveSameMap).
import { spawnSync } from 'node:child_process';
import { captureTickObject, pinnedTickObject, pinTickObjectShape } from '../src/tick-shape.ts';

const TICKS = 200_000; // per round; bounded
const BATCH = 100; // ticks queued per macrotask, so the queue drains between batches as under traffic

interface ChildResult {
  mode: 'pinned' | 'unpinned';
  /** ns per tick in round i, measured after i full GCs. */
  nsPerTick: number[];
  /** Pinned only: the map survived every GC (a tick object made now has the pinned one's map). */
  sameMap?: boolean;
}

function round(): Promise<number> {
  return new Promise((resolve) => {
    let queued = 0;
    let left = TICKS;
    const t0 = process.hrtime.bigint();
    const done = () => {
      if (--left === 0) resolve(Number(process.hrtime.bigint() - t0) / TICKS);
    };
    const batch = () => {
      for (let k = 0; k < BATCH && queued < TICKS; k++, queued++) process.nextTick(done);
      if (queued < TICKS) setImmediate(batch);
    };
    batch();
  });
}

async function child(mode: 'pinned' | 'unpinned', rounds: number): Promise<void> {
  const gc = (globalThis as { gc?: (o: { type: 'major'; execution: 'sync' }) => void }).gc;
  if (gc === undefined) throw new Error('run the child with --expose-gc');
  if (mode === 'pinned' && !pinTickObjectShape()) throw new Error('pinTickObjectShape() caught no tick object');
  for (let i = 0; i < 3; i++) await round(); // warm-up: nextTick optimized, its inline caches settled
  const nsPerTick: number[] = [];
  for (let i = 0; i < rounds; i++) {
    nsPerTick.push(Math.round(await round()));
    gc({ type: 'major', execution: 'sync' });
  }
  const result: ChildResult = { mode, nsPerTick };
  if (mode === 'pinned') {
    // Natives syntax cannot go through the TypeScript stripper, so it is compiled at run time.
    const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean; // eslint-disable-line @typescript-eslint/no-implied-eval
    result.sameMap = haveSameMap(pinnedTickObject()!, captureTickObject()!);
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function spawnChild(mode: 'pinned' | 'unpinned', rounds: number): ChildResult {
  const r = spawnSync(process.execPath, ['--expose-gc', '--allow-natives-syntax', import.meta.filename, 'child', mode, String(rounds)], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`${mode} child failed (${r.status ?? r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
}

const [first, second, third] = process.argv.slice(2);
if (first === 'child') {
  if (second !== 'pinned' && second !== 'unpinned') throw new Error('usage: next-tick-shape.ts child pinned|unpinned [ROUNDS]');
  await child(second, Number(third ?? 7));
} else {
  const rounds = Number(first ?? 7);
  console.log(`node ${process.version}: ns per process.nextTick (${TICKS} per round, ${BATCH} per macrotask), round i after i full GCs`);
  const results = [spawnChild('unpinned', rounds), spawnChild('pinned', rounds), spawnChild('unpinned', rounds), spawnChild('pinned', rounds)];
  for (const r of results) console.log(`${r.mode.padEnd(8)} ${r.nsPerTick.map((n) => String(n).padStart(5)).join(' ')}${r.sameMap === undefined ? '' : `   map kept: ${r.sameMap}`}`);
  const last = (mode: string) => results.filter((r) => r.mode === mode).map((r) => r.nsPerTick.at(-1)!);
  const [u1, u2] = last('unpinned');
  const [p1, p2] = last('pinned');
  console.log(`after ${rounds - 1} full GCs: unpinned ÷ pinned ${(u1! / p1!).toFixed(2)}×, ${(u2! / p2!).toFixed(2)}× (same run)`);
}
