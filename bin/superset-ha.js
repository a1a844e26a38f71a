#!/usr/bin/env node
// Thin launcher: the sidecar's sources are TypeScript run by Node 24's type stripping.
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  process.stderr.write(`superset-ha needs Node >= 24 (this is ${process.version}); run it through npm or the image\n`);
  process.exit(1);
}

// Heap sized for a sidecar (the Dockerfile's ENTRYPOINT passes the same flags; a test keeps them equal).
// Node 24's defaults suit a big server: on a machine with plenty of memory the young generation grows to
// 2 × 64 MiB, and the sidecar's RSS reached 244-310 MiB proxying flat out (the manifests' limit is 256Mi)
// although live data stayed under 40 MiB. Each flag, measured with bench/proxy.sh (bench/README.md):
// - semi-spaces of 16 MiB: young GCs stay rare enough (4 MiB cost 25-50 % more CPU per request);
// - old generation capped at 160 MiB, about 4 × what a router holding 200 replicas keeps live;
// - --heap-growing-percent=100: with a cap that small V8 lets the old generation grow only 1.3× between
//   full GCs, which alone cost ~30 % more CPU per proxied request; 2× costs nothing measurable.
// Unless the caller chose heap flags itself (command line or NODE_OPTIONS), the process replaces itself
// (same pid) with one that has them.
const HEAP_FLAGS = ['--max-semi-space-size=16', '--max-old-space-size=160', '--heap-growing-percent=100'];
const chosen = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => /^--(max-(semi|old)-space-size|heap-growing-percent)/.test(a));
if (!chosen && typeof process.execve === 'function' && process.env.SUPERSET_HA_HEAP_FLAGS !== 'off') {
  process.execve(process.execPath, [process.execPath, ...HEAP_FLAGS, ...process.execArgv, process.argv[1], ...process.argv.slice(2)], process.env);
}
// Node's compile cache (NODE_COMPILE_CACHE, else Node's default under the temp dir) keeps the type-stripped
// sources: once warm, Node does not load its TypeScript transpiler at all, which is about 17 MiB of RSS
// (a WebAssembly compiler module and its memory) and ~25 MiB for the whole sidecar. The image warms its
// cache at build time. NODE_DISABLE_COMPILE_CACHE=1 turns it off; a cache that cannot be written is skipped.
const { enableCompileCache, flushCompileCache } = await import('node:module');
enableCompileCache?.();
await import('../src/main.ts');
// Written now, once every static import is compiled, not only at a clean exit: a sidecar is usually
// stopped by a signal, and a first start that is killed would otherwise leave the cache cold.
flushCompileCache?.();
