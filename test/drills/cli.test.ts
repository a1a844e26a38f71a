import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandArgv } from '../../src/drills/actions.ts';
import { parseTarget } from '../../src/drills/target.ts';
import { runCli } from '../support/sidecar-process.ts';

describe('superset-ha drill CLI', () => {
  // Each case starts a Node process: seconds on a busy machine, so these get a process-sized time limit.
  it('exits 2 with SHA_USAGE for an unknown scenario, no scenario, or a bad rate', { timeout: 60_000 }, async () => {
    for (const args of [['drill', 'replica-explode'], ['drill'], ['drill', 'all', '--rate', '0']]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('SHA_USAGE');
    }
  });

  it('exits 1 naming the problem for a target file that does not parse', { timeout: 30_000 }, async () => {
    const file = path.join(tmpdir(), `sha-target-${process.pid}.json`);
    writeFileSync(file, JSON.stringify({ name: 't', kind: 'local', cwd: '/', sidecars: [], replicas: [], health: {}, actions: {} }));
    const r = await runCli(['drill', 'replica-crash', '--target', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('SHA_DRILL_TARGET_INVALID');
    expect(r.stderr).toMatch(/sidecars: /);
  });
});

describe('drill targets', () => {
  it('fills action placeholders, {env...} as zero or more words', () => {
    expect(expandArgv(['scripts/sidecar.sh', 'start-one', '{sidecar}', '{env...}'], { sidecar: 1, env: ['SHA_A__B=1', 'SHA_C__D=2'] })).toEqual(['scripts/sidecar.sh', 'start-one', '1', 'SHA_A__B=1', 'SHA_C__D=2']);
    expect(expandArgv(['x', '{sidecar}', '{env...}'], { sidecar: 0 })).toEqual(['x', '0']);
    expect(() => expandArgv(['x', '{replica}'], {})).toThrow(/needs a replica/);
  });

  it('needs Superset or plain HTTP load described', () => {
    const t = {
      name: 't',
      kind: 'local',
      cwd: '/',
      sidecars: [{ id: 's', index: 0, proxy: 'http://127.0.0.1:1' }],
      replicas: [
        { id: 'a', index: 0, url: 'http://127.0.0.1:2' },
        { id: 'b', index: 1, url: 'http://127.0.0.1:3' },
      ],
      health: { intervalMs: 1000, fall: 2, rise: 2 },
      actions: {},
    };
    expect(() => parseTarget(t, 'x')).toThrow(/needs "superset"/);
    expect(parseTarget({ ...t, http: { readPath: '/r', writePath: '/w' } }, 'x').name).toBe('t');
    expect(() => parseTarget({ ...t, actions: { 'replica.explode': ['x'] } }, 'x')).toThrow(/actions/);
  });
});
