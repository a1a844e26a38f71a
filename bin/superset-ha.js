#!/usr/bin/env node
// Thin launcher: the sidecar's sources are TypeScript run by Node 24's type stripping.
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  process.stderr.write(`superset-ha needs Node >= 24 (this is ${process.version}); run it through npm or the image\n`);
  process.exit(1);
}

// Heap sized for a sidecar (the Dockerfile's ENTRYPOINT passes the same flags). V8's defaults suit a big
// server: young generation up to 2 × 16 MiB, old generation up to ~2 GB, so RSS grew to ~290 MiB under
// churn although live data stayed under 40 MiB. Measured with bench/scale.sh (bench/README.md). Unless
// the caller chose heap flags itself (command line or NODE_OPTIONS), the process replaces itself (same pid)
// with one that has them.
const HEAP_FLAGS = ['--max-semi-space-size=4', '--max-old-space-size=160'];
const chosen = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => /^--max-(semi|old)-space-size/.test(a));
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
