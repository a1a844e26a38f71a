import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { Secret } from '../../src/secret.ts';
import { Perm, aclProblem, aclPolicy, buildAcl, buildParentAcl, digestId, permString } from '../../src/zookeeper/acl.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const base = { zookeeper: { connect: '127.0.0.1:2181' }, replica: { id: 'r1', url: 'http://127.0.0.1:8088' } };

describe('ZooKeeper digest identity and ACLs', () => {
  it('derives the digest id as ZooKeeper does: user:base64(sha1(user:secret))', () => {
    // What ZooKeeper 3.8 itself prints: java -cp zookeeper.jar org.apache.zookeeper.server.auth.DigestAuthenticationProvider super:secret
    expect(digestId('super', 'secret')).toBe('super:lK75jTNcA+U9vtVEw5vB51mj/w4=');
  });

  it('builds our ACL from the reads policy, and the parents-above-root ACL without delete or write for others', () => {
    const id = digestId('u', 's');
    expect(buildAcl(aclPolicy(undefined))).toEqual([{ perms: Perm.ALL, scheme: 'world', id: 'anyone' }]);
    expect(buildAcl({ digestId: id, reads: 'world' })).toEqual([
      { perms: Perm.ALL, scheme: 'digest', id },
      { perms: Perm.READ, scheme: 'world', id: 'anyone' },
    ]);
    expect(buildAcl({ digestId: id, reads: 'identity' })).toEqual([{ perms: Perm.ALL, scheme: 'digest', id }]);
    expect(buildParentAcl({ digestId: id, reads: 'world' })[1]).toEqual({ perms: Perm.CREATE | Perm.READ, scheme: 'world', id: 'anyone' });
  });

  it('calls an ACL open when anyone but us may write, create, delete or administer (or read, with private reads)', () => {
    const id = digestId('u', 's');
    const world = { digestId: id, reads: 'world' as const };
    expect(aclProblem(buildAcl(world), world)).toBeUndefined();
    expect(aclProblem([{ perms: Perm.ALL, scheme: 'world', id: 'anyone' }], world)).toBe('world:anyone has cdwa; our identity lacks full rights');
    expect(aclProblem([...buildAcl(world), { perms: Perm.READ, scheme: 'ip', id: '10.0.0.0/8' }], world)).toBeUndefined();
    expect(aclProblem([...buildAcl(world), { perms: Perm.CREATE, scheme: 'ip', id: '10.0.0.0/8' }], world)).toBe('ip:10.0.0.0/8 has c');
    expect(aclProblem(buildAcl(world), { digestId: id, reads: 'identity' })).toBe('world:anyone has r');
    // Another cluster's identity owning the node is as bad: we could not even fix it.
    expect(aclProblem([{ perms: Perm.ALL, scheme: 'digest', id: digestId('u', 'other') }], world)).toMatch(/lacks full rights/);
    expect(aclProblem([{ perms: Perm.ALL, scheme: 'world', id: 'anyone' }], aclPolicy(undefined))).toBeUndefined();
    expect(permString(Perm.ALL)).toBe('cdrwa');
  });
});

describe('zookeeper.auth in the config', () => {
  it('reads the secret from a file (trailing newline dropped) and never prints it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sha-acl-'));
    const file = join(dir, 'secret');
    writeFileSync(file, 'a-very-long-secret-value\n');
    const c = parseConfig({ ...base, zookeeper: { ...base.zookeeper, auth: { user: 'superset-ha', secretFile: file } } });
    const auth = c.zookeeper.auth!;
    expect(auth.secret.reveal()).toBe('a-very-long-secret-value');
    expect(auth.reads).toBe('world');
    expect(auth.fixOpenAcls).toBe(false);
    const dumped = [JSON.stringify(c), String(auth.secret), inspect(c, { depth: 10 }), `${auth.secret.toString()}`].join('\n');
    expect(dumped).not.toContain('a-very-long-secret-value');
    expect(JSON.stringify(c)).toContain('"secret":"[redacted]"');
    expect(new Secret('x').toJSON()).toBe('[redacted]');
  });

  it('takes the secret from the environment (SHA_ZOOKEEPER__AUTH__SECRET) and rejects both, neither, short or unreadable', () => {
    const env = parseConfig({ ...base, zookeeper: { ...base.zookeeper, auth: { user: 'u', secret: 'sixteen-chars-ok', reads: 'identity', fixOpenAcls: 'true' } } });
    expect(env.zookeeper.auth).toMatchObject({ reads: 'identity', fixOpenAcls: true });
    const bad = (auth: unknown) => () => parseConfig({ ...base, zookeeper: { ...base.zookeeper, auth } });
    expect(bad({ user: 'u' })).toThrow(/exactly one of secret or secretFile/);
    expect(bad({ user: 'u', secret: 'sixteen-chars-ok', secretFile: '/x' })).toThrow(/exactly one of secret or secretFile/);
    expect(bad({ user: 'u', secret: 'short' })).toThrow(/zookeeper.auth.secret: must be at least 16/);
    expect(bad({ user: 'u', secretFile: '/nonexistent/secret' })).toThrow(/zookeeper.auth.secretFile: cannot read \/nonexistent\/secret: ENOENT/);
    expect(bad({ user: 'bad user', secret: 'sixteen-chars-ok' })).toThrow(/zookeeper.auth.user/);
    expect(bad({ user: 'u', secret: 'sixteen-chars-ok', reads: 'some' })).toThrow(/zookeeper.auth.reads/);
  });
});
