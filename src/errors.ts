// One catalogue of failure codes. Logs, metrics and tests match on `code`, never on message text.
export const ErrorCode = {
  CONFIG_INVALID: 'SHA_CONFIG_INVALID',
  CONFIG_UNREADABLE: 'SHA_CONFIG_UNREADABLE',
  USAGE: 'SHA_USAGE',
  ZK_CONNECT_TIMEOUT: 'SHA_ZK_CONNECT_TIMEOUT',
  ZK_CONNECTION_LOSS: 'SHA_ZK_CONNECTION_LOSS',
  ZK_SESSION_EXPIRED: 'SHA_ZK_SESSION_EXPIRED',
  ZK_SESSION_CLOSED: 'SHA_ZK_SESSION_CLOSED',
  ZK_OP_TIMEOUT: 'SHA_ZK_OP_TIMEOUT',
  ZK_PROBE_TIMEOUT: 'SHA_ZK_PROBE_TIMEOUT',
  ZK_NO_NODE: 'SHA_ZK_NO_NODE',
  ZK_NODE_EXISTS: 'SHA_ZK_NODE_EXISTS',
  ZK_BAD_VERSION: 'SHA_ZK_BAD_VERSION',
  ZK_ERROR: 'SHA_ZK_ERROR',
  ZK_BAD_PAYLOAD: 'SHA_ZK_BAD_PAYLOAD',
  ZK_NODE_OWNED_ELSEWHERE: 'SHA_ZK_NODE_OWNED_ELSEWHERE',
  HEALTH_HTTP_STATUS: 'SHA_HEALTH_HTTP_STATUS',
  HEALTH_HTTP_BODY: 'SHA_HEALTH_HTTP_BODY',
  HEALTH_HTTP_UNREACHABLE: 'SHA_HEALTH_HTTP_UNREACHABLE',
  HEALTH_TIMEOUT: 'SHA_HEALTH_TIMEOUT',
  HEALTH_CHECK_FAILED: 'SHA_HEALTH_CHECK_FAILED',
  HEALTH_DB_UNREACHABLE: 'SHA_HEALTH_DB_UNREACHABLE',
  HEALTH_DB_AUTH: 'SHA_HEALTH_DB_AUTH',
  HEALTH_DB_QUERY: 'SHA_HEALTH_DB_QUERY',
  PROXY_NO_REPLICA: 'SHA_PROXY_NO_REPLICA',
  PROXY_UPSTREAM_FAILED: 'SHA_PROXY_UPSTREAM_FAILED',
  PROXY_UPSTREAM_TIMEOUT: 'SHA_PROXY_UPSTREAM_TIMEOUT',
  PROXY_NOT_REPLAYED: 'SHA_PROXY_NOT_REPLAYED',
  PROXY_RETRY_BUDGET_EXHAUSTED: 'SHA_PROXY_RETRY_BUDGET_EXHAUSTED',
  PROXY_BAD_REQUEST: 'SHA_PROXY_BAD_REQUEST',
  PROXY_RETRY: 'SHA_PROXY_RETRY',
  PROXY_EJECTED: 'SHA_PROXY_EJECTED',
  PROXY_PANIC: 'SHA_PROXY_PANIC',
  PROXY_RESCUED: 'SHA_PROXY_RESCUED',
  PROXY_HEDGED: 'SHA_PROXY_HEDGED',
  PROXY_CLIENT_ABORTED: 'SHA_PROXY_CLIENT_ABORTED',
  PROXY_HEADERS_TOO_LARGE: 'SHA_PROXY_HEADERS_TOO_LARGE',
  PROXY_CLIENT_BODY_TIMEOUT: 'SHA_PROXY_CLIENT_BODY_TIMEOUT',
  ADMIN_DRAIN_DISABLED: 'SHA_ADMIN_DRAIN_DISABLED',
  ADMIN_UNAUTHORIZED: 'SHA_ADMIN_UNAUTHORIZED',
  DRAIN_INCOMPLETE: 'SHA_DRAIN_INCOMPLETE',
  SHUTDOWN_FAILED: 'SHA_SHUTDOWN_FAILED',
  NEXTTICK_UNPINNED: 'SHA_NEXTTICK_UNPINNED',
  ABORTED: 'SHA_ABORTED',
  ZK_NO_AUTH: 'SHA_ZK_NO_AUTH',
  ZK_AUTH_FAILED: 'SHA_ZK_AUTH_FAILED',
  ZK_AUTH_OFF: 'SHA_ZK_AUTH_OFF',
  ZK_ACL_OPEN: 'SHA_ZK_ACL_OPEN',
  ZK_ACL_FIXED: 'SHA_ZK_ACL_FIXED',
  UPSTREAM_NOT_ALLOWED: 'SHA_UPSTREAM_NOT_ALLOWED',
  RUNTIME_CONFIG_INVALID: 'SHA_RUNTIME_CONFIG_INVALID',
  RUNTIME_CONFIG_CONFLICT: 'SHA_RUNTIME_CONFIG_CONFLICT',
  RUNTIME_CONFIG_UNCHANGED: 'SHA_RUNTIME_CONFIG_UNCHANGED',
  SINGLETON_SPAWN_FAILED: 'SHA_SINGLETON_SPAWN_FAILED',
  SINGLETON_EXITED: 'SHA_SINGLETON_EXITED',
  SINGLETON_STOP_TIMEOUT: 'SHA_SINGLETON_STOP_TIMEOUT',
  ELECTION_STEPPED_DOWN: 'SHA_ELECTION_STEPPED_DOWN',
  HEALTH_REDIS_UNREACHABLE: 'SHA_HEALTH_REDIS_UNREACHABLE',
  HEALTH_REDIS_AUTH: 'SHA_HEALTH_REDIS_AUTH',
  HEALTH_REDIS_COMMAND: 'SHA_HEALTH_REDIS_COMMAND',
  DRILL_CONFIG_INVALID: 'SHA_DRILL_CONFIG_INVALID',
  DRILL_TARGET_INVALID: 'SHA_DRILL_TARGET_INVALID',
  DRILL_ACTION_FAILED: 'SHA_DRILL_ACTION_FAILED',
  DRILL_FAULT_NOT_LANDED: 'SHA_DRILL_FAULT_NOT_LANDED',
  DRILL_STEADY_STATE: 'SHA_DRILL_STEADY_STATE',
  DRILL_LOGIN_FAILED: 'SHA_DRILL_LOGIN_FAILED',
  DRILL_INTERRUPTED: 'SHA_DRILL_INTERRUPTED',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class SidecarError extends Error {
  readonly code: ErrorCode;
  /** Structured context safe to log (never secrets). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SidecarError';
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** `err` as it is if it is ours already, else wrapped with `code` and `message` (the original kept as cause). */
export function toSidecarError(err: unknown, code: ErrorCode, message: string): SidecarError {
  return isSidecarError(err) ? err : new SidecarError(code, message, { cause: err });
}

export function isSidecarError(err: unknown, code?: ErrorCode): err is SidecarError {
  return err instanceof SidecarError && (code === undefined || err.code === code);
}

/** Libraries throw non-Errors (node-zookeeper-client's Exception) and strings; normalise for logs. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  // node-zookeeper-client's Exception has a useful toString() but is typed as a plain class.
  if (typeof err === 'object' && err !== null && typeof (err as { toString?: unknown }).toString === 'function') {
    const text = (err as { toString(): string }).toString();
    if (text !== '[object Object]') return text;
  }
  return JSON.stringify(err) ?? String(err);
}

/** Serialisable summary for pino: code first so log queries can group by it. */
export function errorFields(err: unknown): Record<string, unknown> {
  if (isSidecarError(err)) {
    const cause = err.cause === undefined ? undefined : describeError(err.cause);
    return { code: err.code, err: err.message, ...err.details, ...(cause === undefined ? {} : { cause }) };
  }
  return { err: describeError(err) };
}
