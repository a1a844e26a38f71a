import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { captureTickObject } from '../src/tick-shape.ts';

// src/tick-shape.ts keeps one of Node's nextTick entries alive so that full GCs cannot free the maps all
// later entries share (which sends every nextTick through V8's runtime, 4-6× slower). What it costs or
// saves in time is bench/next-tick-shape.ts's business; here: that the pin catches a real entry, and that
// the map survives full GCs in a fresh process (Node 24 with --expose-gc and natives syntax).
const BENCH = join(import.meta.dirname, '..', 'bench', 'next-tick-shape.ts');

describe('tick-shape', () => {
  it('catches the entry process.nextTick queues, with its async-id symbols', () => {
    const tick = captureTickObject();
    expect(tick).toBeDefined();
    expect(Object.getOwnPropertySymbols(tick).map(String)).toEqual(expect.arrayContaining(['Symbol(async_id_symbol)', 'Symbol(trigger_async_id_symbol)']));
    expect(Object.keys(tick!)).toEqual(['callback', 'args']);
  });

  it('catches nothing, and says so, when process.nextTick does not queue a TickObject (a replaced nextTick)', () => {
    const original = Object.getOwnPropertyDescriptor(process, 'nextTick')!;
    process.nextTick = ((cb: () => void) => queueMicrotask(cb)) as typeof process.nextTick;
    try {
      expect(captureTickObject()).toBeUndefined();
    } finally {
      Object.defineProperty(process, 'nextTick', original);
    }
    expect(captureTickObject()).toBeDefined();
  });

  it('keeps the map of nextTick entries through full GCs: an entry made after them has the pinned one’s map', () => {
    const r = spawnSync(process.execPath, ['--expose-gc', '--allow-natives-syntax', BENCH, 'child', 'pinned', '5'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout.trim()) as { mode: string; nsPerTick: number[]; sameMap: boolean };
    expect(result.mode).toBe('pinned');
    expect(result.nsPerTick).toHaveLength(5); // 5 rounds, a full GC after each
    expect(result.sameMap).toBe(true);
  });
});
