import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { imageEntrypoint } from './support/dockerfile.ts';

// bin/superset-ha.js, as npm and the scripts start the sidecar: it re-executes itself with the sidecar's
// heap flags, and keeps the type-stripped sources in Node's compile cache so that a second start does not
// load Node's TypeScript transpiler (~25 MiB of RSS for the life of the process).
const BIN = join(import.meta.dirname, '..', 'bin', 'superset-ha.js');
const PROBE =
  'data:text/javascript,process.on("exit", () => process.stderr.write(JSON.stringify({ transpiler: process.moduleLoadList.some((m) => m.includes("amaro")), execArgv: process.execArgv.filter((a) => !a.startsWith("data:") && a !== "--import") }) + "\\n"))';

function start(env: Record<string, string>): { transpiler: boolean; execArgv: string[] } {
  const r = spawnSync(process.execPath, ['--import', PROBE, BIN, '--help'], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toContain('usage: superset-ha run');
  const line = r.stderr.trim().split('\n').pop()!;
  return JSON.parse(line) as { transpiler: boolean; execArgv: string[] };
}

describe('bin/superset-ha.js', () => {
  it('starts with the image ENTRYPOINT heap flags unless the caller chose its own', () => {
    const imageFlags = imageEntrypoint().filter((a) => a.startsWith('--'));
    expect(imageFlags).toContain('--max-old-space-size=160');
    expect(start({}).execArgv).toEqual(imageFlags);
    expect(start({ NODE_OPTIONS: '--max-old-space-size=300' }).execArgv).toEqual([]);
    expect(start({ SUPERSET_HA_HEAP_FLAGS: 'off' }).execArgv).toEqual([]);
  });

  it('fills the compile cache on the first start, and the second start loads no TypeScript transpiler', () => {
    const cache = mkdtempSync(join(tmpdir(), 'sha-compile-cache-'));
    try {
      expect(start({ NODE_COMPILE_CACHE: cache }).transpiler).toBe(true);
      expect(readdirSync(cache).length).toBeGreaterThan(0);
      expect(start({ NODE_COMPILE_CACHE: cache }).transpiler).toBe(false);
      expect(start({ NODE_COMPILE_CACHE: cache, NODE_DISABLE_COMPILE_CACHE: '1' }).transpiler).toBe(true);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
