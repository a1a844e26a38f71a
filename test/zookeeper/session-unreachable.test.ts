import { describe, expect, it } from 'vitest';
import { ErrorCode, type SidecarError } from '../../src/errors.ts';
import { ZkSession } from '../../src/zookeeper/session.ts';
import { freePort } from '../support/ports.ts';
import { SidecarProcess } from '../support/sidecar-process.ts';

// No server listens on these ports: the library would retry forever without a word.
describe('ZooKeeper unreachable at start', () => {
  it('the session times out each attempt, backs off and keeps trying until closed', async () => {
    const ports = [await freePort(), await freePort()];
    const session = new ZkSession({
      connect: ports.map((p) => `127.0.0.1:${p}`).join(','),
      sessionTimeoutMs: 4000,
      connectTimeoutMs: 500,
      operationTimeoutMs: 500,
      probeIntervalMs: 1000,
      probeTimeoutMs: 1000,
      retry: { baseMs: 50, maxMs: 200 },
    });
    const timeouts: SidecarError[] = [];
    session.on('connectTimeout', (e) => timeouts.push(e));
    session.start();
    await expect.poll(() => timeouts.length, { timeout: 5000 }).toBeGreaterThanOrEqual(2);
    expect(timeouts[0]).toMatchObject({ code: ErrorCode.ZK_CONNECT_TIMEOUT, details: { attempt: 1 } });
    expect(timeouts[1]?.details.attempt).toBe(2);
    expect(session.state.kind).toBe('connecting');
    // An operation never hangs: it fails by its deadline, or sooner when the attempt's client is dropped.
    const err = await session.exists('/').then(() => undefined, (e: unknown) => e as SidecarError);
    expect([ErrorCode.ZK_OP_TIMEOUT, ErrorCode.ZK_CONNECTION_LOSS]).toContain(err?.code);
    await session.close();
    await session.close();
    expect(session.state.kind).toBe('closed');
    await expect(session.exists('/')).rejects.toMatchObject({ code: ErrorCode.ZK_SESSION_CLOSED });
  });

  it('the sidecar process logs clear errors and stays up (no crash loop), then exits 0 on SIGTERM', async () => {
    const zkPort = await freePort();
    const p = new SidecarProcess({
      zookeeper: { connect: `127.0.0.1:${zkPort}`, sessionTimeoutMs: 4000, connectTimeoutMs: 500, retryBaseMs: 50, retryMaxMs: 200 },
      replica: { id: 'r-unreachable', url: `http://127.0.0.1:${await freePort()}` },
      admin: { port: 0 },
      // No drain delay: nothing routes here, and the default 5 s would eat most of the test's time.
      shutdown: { drainDelayMs: 0, drainTimeoutMs: 500 },
    });
    try {
      await p.waitForLog((l) => l.code === ErrorCode.ZK_CONNECT_TIMEOUT && l.attempt === 2, 20_000);
      const admin = await p.adminUrl();
      const res = await fetch(`${admin}/metrics`);
      expect(await res.text()).toMatch(/superset_ha_zk_connect_timeouts_total [1-9]/);
      p.signal('SIGTERM');
      expect(await p.exited).toEqual({ code: 0, signal: null });
    } finally {
      await p.stop();
    }
    // Above the log wait: starting a Node process on a busy 2-core machine can take seconds.
  }, 30_000);
});
