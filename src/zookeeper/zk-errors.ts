import * as zookeeper from 'node-zookeeper-client';
import { ErrorCode, SidecarError, isSidecarError, describeError } from '../errors.ts';

// The library's Exception codes mapped to ours; anything else is a generic ZooKeeper error.
const byLibraryCode = new Map<number, ErrorCode>([
  [zookeeper.Exception.NO_NODE, ErrorCode.ZK_NO_NODE],
  [zookeeper.Exception.NODE_EXISTS, ErrorCode.ZK_NODE_EXISTS],
  [zookeeper.Exception.BAD_VERSION, ErrorCode.ZK_BAD_VERSION],
  [zookeeper.Exception.CONNECTION_LOSS, ErrorCode.ZK_CONNECTION_LOSS],
  [zookeeper.Exception.SESSION_EXPIRED, ErrorCode.ZK_SESSION_EXPIRED],
  [zookeeper.Exception.OPERATION_TIMEOUT, ErrorCode.ZK_OP_TIMEOUT],
  [zookeeper.Exception.NO_AUTH, ErrorCode.ZK_NO_AUTH],
  [zookeeper.Exception.AUTH_FAILED, ErrorCode.ZK_AUTH_FAILED],
]);

export function toSidecarError(err: unknown, path: string): SidecarError {
  if (isSidecarError(err)) return err;
  const libCode = typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'number' ? err.code : undefined;
  const code = (libCode !== undefined ? byLibraryCode.get(libCode) : undefined) ?? ErrorCode.ZK_ERROR;
  return new SidecarError(code, `ZooKeeper: ${describeError(err)}`, { cause: err, details: { path } });
}

/** Rejects with `onTimeout()` if `op` has not settled in time; the library itself has no deadlines. */
export function withDeadline<T>(op: Promise<T>, ms: number, onTimeout: () => SidecarError): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([op, deadline]).finally(() => clearTimeout(timer));
}
