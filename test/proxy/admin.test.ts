import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics.ts';
import { AdminServer, type AdminView } from '../../src/proxy/admin.ts';

describe('admin API', () => {
  let server: AdminServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const refused: string[] = [];
  async function start(view: Partial<AdminView>, drainToken?: string): Promise<string> {
    const full: AdminView = { ready: () => ({ ready: true, reasons: [] }), replicas: () => ({}), drain: () => undefined, ...view };
    server = new AdminServer(full, new Metrics({ processMetrics: false }), {
      host: '127.0.0.1',
      port: 0,
      ...(drainToken ? { drainToken } : {}),
      onRefused: (code) => refused.push(code),
    });
    await server.start();
    return `http://127.0.0.1:${server.address.port}`;
  }

  it('healthz is always 200; readyz follows the view with reasons', async () => {
    let ready = false;
    const url = await start({ ready: () => ({ ready, reasons: ready ? [] : ['no live replica known'] }) });
    expect((await request(`${url}/healthz`)).statusCode).toBe(200);
    const notReady = await request(`${url}/readyz`);
    expect(notReady.statusCode).toBe(503);
    expect(await notReady.body.json()).toEqual({ ready: false, reasons: ['no live replica known'] });
    ready = true;
    expect((await request(`${url}/readyz`)).statusCode).toBe(200);
  });

  it('serves Prometheus metrics with the documented names', async () => {
    const url = await start({});
    const res = await request(`${url}/metrics`);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const text = await res.body.text();
    for (const name of ['superset_ha_replicas_live', 'superset_ha_membership_stale', 'superset_ha_registered', 'superset_ha_zk_session_state', 'superset_ha_retries_total', 'superset_ha_failovers_total']) {
      expect(text).toContain(`# TYPE ${name} `);
    }
  });

  it('POST /drain is refused when no token is configured, and needs the exact bearer token otherwise', async () => {
    let drains = 0;
    let url = await start({ drain: () => void drains++ });
    const disabled = await request(`${url}/drain`, { method: 'POST' });
    expect(disabled.statusCode).toBe(403);
    expect(await disabled.body.json()).toMatchObject({ error: 'SHA_ADMIN_DRAIN_DISABLED' });
    await server!.close();

    const token = 'a-long-drain-token-0123456789';
    url = await start({ drain: () => void drains++ }, token);
    for (const auth of [undefined, 'Bearer wrong', `Basic ${token}`, `Bearer ${token}x`]) {
      const r = await request(`${url}/drain`, { method: 'POST', headers: auth ? { authorization: auth } : {} });
      expect(r.statusCode).toBe(401);
      expect(await r.body.json()).toMatchObject({ error: 'SHA_ADMIN_UNAUTHORIZED' });
    }
    expect(drains).toBe(0);
    expect(refused).toEqual(['SHA_ADMIN_DRAIN_DISABLED', 'SHA_ADMIN_UNAUTHORIZED', 'SHA_ADMIN_UNAUTHORIZED', 'SHA_ADMIN_UNAUTHORIZED', 'SHA_ADMIN_UNAUTHORIZED']);
    const ok = await request(`${url}/drain`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(ok.statusCode).toBe(202);
    expect(drains).toBe(1);
  });
});
