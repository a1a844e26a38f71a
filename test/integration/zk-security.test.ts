import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, isSidecarError } from '../../src/errors.ts';
import { Perm, digestId } from '../../src/zookeeper/acl.ts';
import { encodePayload } from '../../src/zookeeper/payload.ts';
import type { ZkSession } from '../../src/zookeeper/session.ts';
import { SESSION_TIMEOUT_MS, Watcher, testRoot, zkTestOptions } from '../support/harness.ts';
import { SidecarProcess } from '../support/sidecar-process.ts';
import { metricValue } from '../support/proxy-harness.ts';
import { CountingUpstream, connected, newSecret, secureApp, session, type AuthSpec } from '../support/secure-zk.ts';

/** The error code a ZooKeeper operation failed with, or 'ok'. */
async function outcome(op: Promise<unknown>): Promise<string> {
  try {
    await op;
    return 'ok';
  } catch (err) {
    return isSidecarError(err) ? err.code : String(err);
  }
}

function payload(id: string, url: string): Buffer {
  return encodePayload({ id, url, zone: 'default', weight: 100, version: 'test', startedAt: new Date().toISOString() });
}

describe('coordination layer security (real ZooKeeper)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  async function open(auth?: AuthSpec, root?: string): Promise<ZkSession> {
    const s = session(auth, root);
    cleanups.push(() => s.close());
    return connected(s);
  }

  async function upstream(name: string): Promise<{ u: CountingUpstream; port: number }> {
    const u = new CountingUpstream(name);
    cleanups.push(() => u.close());
    return { u, port: await u.start() };
  }

  it('a client without the credentials cannot create, write or delete anything under the root (NoAuth)', async () => {
    // A parent the sidecar has to create too: other clusters must still be able to put their roots beside ours.
    const parent = `/sha-secure-${randomUUID().slice(0, 8)}`;
    const root = `${parent}/prod`;
    const auth: AuthSpec = { user: 'superset-ha', secret: newSecret() };
    const { port } = await upstream('r1');
    const { app } = secureApp({ root, id: 'r1', url: `http://127.0.0.1:${port}`, auth });
    cleanups.push(() => app.close());
    await app.start();
    await expect.poll(() => app.registration!.registered, { timeout: 10_000 }).toBe(true);
    await expect.poll(() => app.table!.upstreams.length, { timeout: 5_000 }).toBe(1);

    // Every coordination node, and the ephemeral replica znode, carries our identity's ACL.
    const sidecar = await open(auth);
    const ours = { perms: Perm.ALL, scheme: 'digest', id: digestId(auth.user, auth.secret) };
    const worldRead = { perms: Perm.READ, scheme: 'world', id: 'anyone' };
    for (const p of [root, `${root}/replicas`, `${root}/election`, `${root}/config`, `${root}/replicas/r1`]) {
      expect((await sidecar.getACL(p)).acl, p).toEqual([ours, worldRead]);
    }

    const evidence: Record<string, string> = {};
    const bare = await open();
    const wrong = await open({ user: auth.user, secret: newSecret() });
    for (const [who, s] of [['bare', bare], ['wrong-secret', wrong]] as const) {
      evidence[`${who} create replicas/evil`] = await outcome(s.create(`${root}/replicas/evil`, payload('evil', 'http://10.6.6.6:8088'), 'ephemeral'));
      evidence[`${who} create root/x`] = await outcome(s.create(`${root}/x`, Buffer.alloc(0), 'persistent'));
      evidence[`${who} create election/n_`] = await outcome(s.create(`${root}/election/n_0000000001`, Buffer.alloc(0), 'ephemeral'));
      evidence[`${who} delete replicas/r1`] = await outcome(s.remove(`${root}/replicas/r1`));
      evidence[`${who} write config`] = await outcome(s.setData(`${root}/config`, Buffer.from('{"schemaVersion":1}')));
      evidence[`${who} delete config`] = await outcome(s.remove(`${root}/config`));
      evidence[`${who} setACL root`] = await outcome(s.setACL(root, [{ perms: Perm.ALL, scheme: 'world', id: 'anyone' }]));
    }
    evidence['bare delete the root (from its parent)'] = await outcome(bare.remove(`${root}/election`).then(() => bare.remove(root)));
    console.log(`[zk-security] NoAuth evidence: ${JSON.stringify(evidence)}`);
    for (const [what, code] of Object.entries(evidence)) expect(code, what).toBe(ErrorCode.ZK_NO_AUTH);
    // Reads stay open by default (reads: world), and nothing the bare clients tried changed anything.
    expect(await outcome(bare.getData(`${root}/config`))).toBe('ok');
    expect(await bare.getChildren(`${root}/replicas`)).toEqual(['r1']);
    expect(app.table!.upstreams.map((u) => u.id)).toEqual(['r1']);
    // The parent above the root lets another cluster create its root beside ours, and nothing else.
    expect(await outcome(bare.create(`${parent}/other-cluster`, Buffer.alloc(0), 'persistent'))).toBe('ok');
    expect(await outcome(bare.setData(parent, Buffer.from('x')))).toBe(ErrorCode.ZK_NO_AUTH);
    // The same operations with the credentials succeed: what failed above failed for want of them.
    expect(await outcome(sidecar.create(`${root}/x`, Buffer.alloc(0), 'persistent'))).toBe('ok');
    expect(await outcome(sidecar.remove(`${root}/x`))).toBe('ok');
  });

  it('authenticates again on a new session after expiry (the re-created ephemeral needs it), and never logs the secret', async () => {
    const root = testRoot();
    const auth: AuthSpec = { user: 'superset-ha', secret: newSecret() };
    const { port } = await upstream('frozen');
    const p = new SidecarProcess({
      zookeeper: { ...zkTestOptions, root, auth },
      replica: { id: 'frozen', url: `http://127.0.0.1:${port}` },
      health: { intervalMs: 300, timeoutMs: 250, rise: 1, fall: 2 },
      admin: { port: 0 },
      roles: { router: false },
      log: { level: 'debug' },
    });
    cleanups.push(() => p.stop());
    // The sidecar creates the tree first: a bare watcher's mkdirp would have left it open (and been refused).
    await p.waitForLog((l) => l.event === 'zk_layout');
    const w = new Watcher(root).start(); // unauthenticated: reads are world-readable
    cleanups.push(() => w.close());
    await w.until((ids) => ids.includes('frozen'));
    p.signal('SIGSTOP');
    await w.until((ids) => !ids.includes('frozen'), 3 * SESSION_TIMEOUT_MS); // the ensemble expired it
    p.signal('SIGCONT');
    await p.waitForLog((l) => l.event === 'zk_session' && l.renewed === true);
    await w.until((ids) => ids.includes('frozen'), 10_000);
    const sidecar = await open(auth);
    expect((await sidecar.getACL(`${root}/replicas/frozen`)).acl[0]).toEqual({ perms: Perm.ALL, scheme: 'digest', id: digestId(auth.user, auth.secret) });
    expect(p.logs.some((l) => l.code === ErrorCode.ZK_NO_AUTH)).toBe(false);
    const all = JSON.stringify(p.logs) + p.stderr.join('\n');
    expect(all).toContain('"event":"registration"');
    expect(all).not.toContain(auth.secret);
  });

  it('with reads: identity, a bare client cannot even read the membership or the runtime config', async () => {
    const root = testRoot();
    const auth: AuthSpec = { user: 'superset-ha', secret: newSecret(), reads: 'identity' };
    const { app } = secureApp({ root, id: 'r1', url: 'http://127.0.0.1:1', auth, roles: { registrar: false } });
    cleanups.push(() => app.close());
    await app.start();
    const sidecar = await open(auth);
    await expect.poll(() => outcome(sidecar.getData(`${root}/config`)), { timeout: 10_000 }).toBe('ok');
    const bare = await open();
    expect(await outcome(bare.getData(`${root}/config`))).toBe(ErrorCode.ZK_NO_AUTH);
    expect(await outcome(bare.getChildren(`${root}/replicas`))).toBe(ErrorCode.ZK_NO_AUTH);
    expect((await sidecar.getACL(`${root}/replicas`)).acl).toEqual([{ perms: Perm.ALL, scheme: 'digest', id: digestId(auth.user, auth.secret) }]);
  });

  it('refuses to run on coordination nodes with open ACLs (SHA_ZK_ACL_OPEN, exit 1), and takes them over with fixOpenAcls', async () => {
    const root = testRoot();
    const auth: AuthSpec = { user: 'superset-ha', secret: newSecret() };
    const bare = await open();
    await bare.mkdirp(`${root}/replicas`); // what an older, unauthenticated sidecar left behind
    const closed: (number | undefined)[] = [];
    const refused = secureApp({ root, id: 'r1', url: 'http://127.0.0.1:1', auth, roles: { registrar: false }, onClosed: (c) => closed.push(c) });
    cleanups.push(() => refused.app.close());
    await refused.app.start();
    await expect.poll(() => closed, { timeout: 10_000 }).toEqual([1]);
    const fatal = refused.lines.find((l) => l.code === ErrorCode.ZK_ACL_OPEN);
    expect(fatal?.level).toBe(60);
    expect((fatal?.nodes as { path: string }[]).map((n) => n.path)).toEqual([root, `${root}/replicas`]);
    expect((await bare.getChildren(root)).sort()).toEqual(['replicas']); // refusing created nothing
    expect(await metricValue(refused.metrics, 'superset_ha_zk_layout_errors_total', { code: ErrorCode.ZK_ACL_OPEN })).toBe(1);
    // Refusing changed nothing: the bare client can still write there.
    expect(await outcome(bare.create(`${root}/replicas/still-open`, Buffer.alloc(0), 'persistent'))).toBe('ok');
    await bare.remove(`${root}/replicas/still-open`);

    const fixing = secureApp({ root, id: 'r1', url: 'http://127.0.0.1:1', auth: { ...auth, fixOpenAcls: true }, roles: { registrar: false } });
    cleanups.push(() => fixing.app.close());
    await fixing.app.start();
    await expect.poll(() => fixing.lines.filter((l) => l.code === ErrorCode.ZK_ACL_FIXED).map((l) => l.path), { timeout: 10_000 }).toEqual([root, `${root}/replicas`]);
    expect(await metricValue(fixing.metrics, 'superset_ha_zk_acl_fixed_total')).toBe(2);
    expect(await outcome(bare.create(`${root}/replicas/evil`, Buffer.alloc(0), 'ephemeral'))).toBe(ErrorCode.ZK_NO_AUTH);
  });

  it('never routes to a replica whose URL is outside proxy.allowedUpstreams, though it is live and reachable', async () => {
    const root = testRoot();
    const auth: AuthSpec = { user: 'superset-ha', secret: newSecret() };
    const good = await upstream('good');
    const evil = await upstream('evil');
    // The forged payload is written with the credentials (a leaked secret, or a misconfigured replica): the
    // allow list is the router's own defence. `localhost` reaches the same 127.0.0.1 server but is no rule.
    const writer = await open(auth, root);
    await writer.mkdirp(`${root}/replicas`);
    await writer.create(`${root}/replicas/good`, payload('good', `http://127.0.0.1:${good.port}`), 'ephemeral');
    await writer.create(`${root}/replicas/evil`, payload('evil', `http://localhost:${evil.port}`), 'ephemeral');

    const guarded = secureApp({ root, id: 'router', url: 'http://127.0.0.1:1', auth, roles: { registrar: false }, proxy: { allowedUpstreams: ['127.0.0.1/32', '*.svc.cluster.local'] } });
    const unguarded = secureApp({ root, id: 'router2', url: 'http://127.0.0.1:1', auth, roles: { registrar: false } });
    for (const a of [guarded, unguarded]) {
      cleanups.push(() => a.app.close());
      await a.app.start();
    }
    await expect.poll(() => guarded.app.membership!.snapshot.replicas.length, { timeout: 10_000 }).toBe(2);
    await expect.poll(() => unguarded.app.table!.upstreams.length, { timeout: 10_000 }).toBe(2);
    expect(guarded.app.table!.upstreams.map((u) => u.id)).toEqual(['good']);

    const send = async (a: typeof guarded, n: number) => {
      const { port } = a.app.proxy!.address;
      for (let i = 0; i < n; i++) {
        const r = await request(`http://127.0.0.1:${port}/api/v1/chart/`);
        expect(r.statusCode).toBe(200);
        await r.body.text();
      }
    };
    await send(guarded, 50);
    expect(evil.u.hits).toBe(0);
    expect(good.u.hits).toBe(50);
    // The control: the same membership without the allow list does reach the forged upstream.
    await send(unguarded, 50);
    expect(evil.u.hits).toBeGreaterThan(0);

    expect(await metricValue(guarded.metrics, 'superset_ha_upstreams_refused_total')).toBe(1);
    const warn = guarded.lines.filter((l) => l.code === ErrorCode.UPSTREAM_NOT_ALLOWED);
    expect(warn).toHaveLength(1);
    expect(warn[0]).toMatchObject({ level: 40, replica: 'evil', url: `http://localhost:${evil.port}` });
  });
});
