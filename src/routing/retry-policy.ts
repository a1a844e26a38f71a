import type { RouteClass } from './route-table.ts';

/**
 * How an attempt failed, as precisely as we can tell:
 * - `not-sent`: no byte of the request reached an upstream (refused, connect timeout, no socket): any request
 *   may go elsewhere.
 * - `maybe-received`: the request was (maybe partly) written and the connection then failed or timed out
 *   before a response: the upstream may be executing it.
 * - `status`: the upstream answered 502/503/504 (its own gateway or overload answer).
 */
export type AttemptFailure =
  | { kind: 'not-sent'; code: string }
  | { kind: 'maybe-received'; code: string }
  | { kind: 'status'; status: number };

/** `rescue`: the replica failed under a request in flight (left the live set, ejected, found unhealthy). */
export type RetryReason = 'not_sent' | 'reset' | 'timeout' | 'status_502' | 'status_503' | 'status_504' | 'rescue';

export const RETRYABLE_STATUS: ReadonlySet<number> = new Set([502, 503, 504]);

/**
 * DESIGN.md invariant 2. Returns why a retry is allowed, or undefined when it must not happen:
 * never-sent failures always; after the upstream may have received the request, only idempotent routes and
 * Superset's read-only query endpoints, and only if the body is still in hand to send again.
 */
export function retryReason(failure: AttemptFailure, route: RouteClass, bodyReplayable: boolean): RetryReason | undefined {
  if (failure.kind === 'not-sent') return bodyReplayable ? 'not_sent' : undefined;
  if (route === 'unsafe' || !bodyReplayable) return undefined;
  if (failure.kind === 'status') return RETRYABLE_STATUS.has(failure.status) ? (`status_${failure.status}` as RetryReason) : undefined;
  return failure.code === 'UND_ERR_HEADERS_TIMEOUT' || failure.code === 'UND_ERR_BODY_TIMEOUT' ? 'timeout' : 'reset';
}
