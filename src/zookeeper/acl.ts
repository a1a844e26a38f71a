import { createHash } from 'node:crypto';
import type { ZkAuth, ZkReads } from './auth-schema.ts';

// ZooKeeper permission bits (org.apache.zookeeper.ZooDefs.Perms); the same numbers node-zookeeper-client uses.
export const Perm = { READ: 1, WRITE: 2, CREATE: 4, DELETE: 8, ADMIN: 16, ALL: 31 } as const;

/** One ACL entry, library-neutral: `digest:user:hash`, `world:anyone`, `ip:10.0.0.0/8` ... */
export interface AclEntry {
  readonly perms: number;
  readonly scheme: string;
  readonly id: string;
}

/** What the sidecar puts on every node it creates, and what it expects to find on the coordination nodes. */
export interface AclPolicy {
  /** `user:base64(sha1(user:secret))`, the digest id ZooKeeper derives from our credentials; none = open. */
  readonly digestId: string | undefined;
  readonly reads: ZkReads;
}

export const OPEN_ACL: readonly AclEntry[] = [{ perms: Perm.ALL, scheme: 'world', id: 'anyone' }];

/** ZooKeeper's DigestAuthenticationProvider: the server stores and compares this, never the secret. */
export function digestId(user: string, secret: string): string {
  return `${user}:${createHash('sha1').update(`${user}:${secret}`).digest('base64')}`;
}

export function aclPolicy(auth: ZkAuth | undefined): AclPolicy {
  return auth === undefined ? { digestId: undefined, reads: 'world' } : { digestId: digestId(auth.user, auth.secret.reveal()), reads: auth.reads };
}

/** The ACL for nodes we create: everything for our identity; reading for anyone when reads are public. */
export function buildAcl(policy: AclPolicy): readonly AclEntry[] {
  if (policy.digestId === undefined) return OPEN_ACL;
  const ours: AclEntry = { perms: Perm.ALL, scheme: 'digest', id: policy.digestId };
  return policy.reads === 'world' ? [ours, { perms: Perm.READ, scheme: 'world', id: 'anyone' }] : [ours];
}

/**
 * The ACL for missing parents above the root (/superset-ha for /superset-ha/prod): other clusters, with other
 * identities, must still be able to create their roots beside ours, so anyone may create there, but not
 * delete (ZooKeeper checks DELETE on the parent), write or change the ACL.
 */
export function buildParentAcl(policy: AclPolicy): readonly AclEntry[] {
  if (policy.digestId === undefined) return OPEN_ACL;
  const others = policy.reads === 'world' ? Perm.CREATE | Perm.READ : Perm.CREATE;
  return [{ perms: Perm.ALL, scheme: 'digest', id: policy.digestId }, { perms: others, scheme: 'world', id: 'anyone' }];
}

/**
 * Why an existing node's ACL is not what the policy asks for, or undefined when it is safe: nobody but our
 * identity may create, write, delete or change the ACL, and with private reads nobody else may read.
 * Extra entries that grant nothing beyond what the policy allows (e.g. an operator's read-only `ip:` entry
 * with public reads) are accepted.
 */
export function aclProblem(entries: readonly AclEntry[], policy: AclPolicy): string | undefined {
  if (policy.digestId === undefined) return undefined;
  const problems: string[] = [];
  for (const e of entries) {
    if (e.scheme === 'digest' && e.id === policy.digestId) continue;
    const extra = policy.reads === 'world' ? e.perms & ~Perm.READ : e.perms;
    if (extra !== 0) problems.push(`${e.scheme}:${e.id} has ${permString(extra)}`);
  }
  if (!entries.some((e) => e.scheme === 'digest' && e.id === policy.digestId && (e.perms & Perm.ALL) === Perm.ALL)) {
    problems.push('our identity lacks full rights');
  }
  return problems.length === 0 ? undefined : problems.join('; ');
}

/** `cdrwa`-style, as zkCli prints it. */
export function permString(perms: number): string {
  return ['c', Perm.CREATE, 'd', Perm.DELETE, 'r', Perm.READ, 'w', Perm.WRITE, 'a', Perm.ADMIN]
    .reduce<string>((s, v, i, arr) => (i % 2 === 0 && (perms & (arr[i + 1] as number)) !== 0 ? s + String(v) : s), '');
}
