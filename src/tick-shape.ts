import { createHook } from 'node:async_hooks';

// Why a proxy keeps one of Node's own nextTick entries alive.
//
// process.nextTick builds each queue entry as an object literal whose first three keys are computed
// (Node's async-id symbols), so V8 gives it its shape by walking a chain of map transitions. Those maps
// are held only weakly (transition arrays, inline caches) and no entry outlives its tick, so every full
// (mark-compact) GC frees them and the next tick builds fresh ones. Measured with Node 24.21: after the
// third full GC while nextTick is hot, its define-property inline cache has seen too many maps and every
// tick goes through V8's runtime (Runtime_DefineKeyedOwnPropertyInLiteral): 4-6× slower per tick, for
// the rest of the process's life. Node's stream and HTTP code make several ticks per proxied request,
// so a sidecar that had run long enough to see three full GCs spent ~4 µs more CPU per request (5 % of
// it) than a fresh one (bench/README.md, "nextTick and full GCs"; bench/next-tick-shape.ts).
//
// One entry kept alive keeps its map, and through the maps' back pointers the whole chain, so the cache
// stays monomorphic through any number of GCs. The entry is caught with an async hook enabled for one
// synchronous nextTick call and disabled at once; trackPromises: false, so V8's promise hooks are never
// installed: once installed, even for an instant, an await costs ~15 % more for the rest of the process
// (measured on Node 24.21, 65 → 76 ns per await in a loop).

let pinned: object | undefined;

function noop(): void {}

/** The TickObject the next process.nextTick call creates (Node's queue entry), or undefined. */
export function captureTickObject(): object | undefined {
  let caught: object | undefined;
  const hook = createHook({
    init(_asyncId, type, _triggerAsyncId, resource) {
      if (type === 'TickObject' && caught === undefined) caught = resource;
    },
    trackPromises: false,
  });
  hook.enable();
  try {
    process.nextTick(noop);
  } finally {
    hook.disable();
  }
  return caught;
}

/**
 * Keeps one nextTick queue entry alive for the life of the process, so that full GCs cannot free the
 * maps nextTick's entries are built with (see above). Idempotent; false when the entry could not be
 * caught (a Node whose nextTick no longer reports TickObjects), which costs speed, never correctness.
 */
export function pinTickObjectShape(): boolean {
  pinned ??= captureTickObject();
  return pinned !== undefined;
}

/** The entry pinTickObjectShape() keeps (for its test and benchmark, which check that its map lives on). */
export function pinnedTickObject(): object | undefined {
  return pinned;
}
