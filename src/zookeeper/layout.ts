import { ErrorCode, SidecarError, isSidecarError } from '../errors.ts';
import { aclProblem, buildAcl, type AclEntry, type AclPolicy } from './acl.ts';
import type { NodeStat, ZkApi } from './api.ts';
import { encodeRuntimeConfig, EMPTY_RUNTIME_CONFIG } from './runtime-config-schema.ts';

/** What layout checks need beyond ZkApi; ZkSession has it. */
export interface ZkAclApi extends ZkApi {
  readonly aclPolicy: AclPolicy;
  getACL(path: string): Promise<{ acl: AclEntry[]; aversion: number }>;
  setACL(path: string, acl: readonly AclEntry[], aversion?: number): Promise<void>;
}

export interface LayoutResult {
  readonly created: string[];
  /** Nodes whose open ACL was rewritten (only with fixOpenAcls). */
  readonly fixed: { path: string; problem: string }[];
}

/** The coordination nodes under a root, in creation order. */
export function coordinationNodes(root: string): { path: string; data: Buffer }[] {
  return [
    { path: root, data: Buffer.alloc(0) },
    { path: `${root}/replicas`, data: Buffer.alloc(0) },
    { path: `${root}/election`, data: Buffer.alloc(0) },
    { path: `${root}/config`, data: encodeRuntimeConfig(EMPTY_RUNTIME_CONFIG) },
  ];
}

/**
 * Makes sure the root, replicas/, election/ and config exist with the session's ACL, and that none of them
 * lets anyone but our identity write. Nodes we create get the ACL at creation (ZkSession applies it to every
 * create). Existing open nodes are refused with SHA_ZK_ACL_OPEN, or rewritten when `fix` is set.
 */
export async function ensureLayout(zk: ZkAclApi, root: string, fix: boolean): Promise<LayoutResult> {
  const policy = zk.aclPolicy;
  const created: string[] = [];
  const fixed: { path: string; problem: string }[] = [];
  const open: { path: string; problem: string }[] = [];
  const parent = root.slice(0, root.lastIndexOf('/'));
  if (parent !== '') await zk.mkdirp(parent);
  for (const node of coordinationNodes(root)) {
    // Under a node we refuse, create nothing: refusing must leave the tree as we found it.
    if (open.length > 0) {
      if ((await zk.exists(node.path)) === null) continue;
    } else if (await createIfMissing(zk, node.path, node.data)) {
      created.push(node.path);
      continue;
    }
    if (policy.digestId === undefined) continue;
    const { acl, aversion } = await zk.getACL(node.path);
    const problem = aclProblem(acl, policy);
    if (problem === undefined) continue;
    if (!fix) {
      open.push({ path: node.path, problem });
      continue;
    }
    await zk.setACL(node.path, buildAcl(policy), aversion);
    fixed.push({ path: node.path, problem });
  }
  if (open.length > 0) {
    throw new SidecarError(
      ErrorCode.ZK_ACL_OPEN,
      `coordination nodes let others than our ZooKeeper identity in: ${open.map((o) => `${o.path} (${o.problem})`).join(', ')}; ` +
        'set zookeeper.auth.fixOpenAcls or run `superset-ha zk secure` to take them over',
      { details: { nodes: open } },
    );
  }
  return { created, fixed };
}

async function createIfMissing(zk: ZkApi, path: string, data: Buffer): Promise<boolean> {
  const stat: NodeStat | null = await zk.exists(path);
  if (stat !== null) return false;
  try {
    await zk.create(path, data, 'persistent');
    return true;
  } catch (err) {
    if (isSidecarError(err, ErrorCode.ZK_NODE_EXISTS)) return false; // another sidecar was quicker
    throw err;
  }
}
