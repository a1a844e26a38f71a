import { setTimeout as sleepTimer } from 'node:timers/promises';
import { ErrorCode, SidecarError } from './errors.ts';

export interface BackoffPolicy {
  /** Delay cap for the first retry, ms. */
  readonly baseMs: number;
  /** No single delay exceeds this, ms. */
  readonly maxMs: number;
}

/**
 * Capped exponential backoff with "full jitter" (a uniform draw in [0, min(max, base·2^attempt)]):
 * it spreads a fleet's retries so a recovering ZooKeeper or replica is not hit in lockstep.
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}

/** Sleep that rejects with SHA_ABORTED when the signal fires, so close() never waits out a backoff. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleepTimer(ms, undefined, signal === undefined ? undefined : { signal });
  } catch (err) {
    throw new SidecarError(ErrorCode.ABORTED, 'sleep aborted', { cause: err });
  }
}
