#!/usr/bin/env node
// Thin launcher: the sidecar's sources are TypeScript run by Node 24's type stripping.
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  process.stderr.write(`superset-ha needs Node >= 24 (this is ${process.version}); run it through npm or the image\n`);
  process.exit(1);
}
await import('../src/main.ts');
