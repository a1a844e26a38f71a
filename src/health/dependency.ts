import type { HealthCheck } from './check.ts';
import { createMetadataDbCheck } from './metadata-db.ts';
import { RedisCheck } from './redis.ts';

export interface DependencyConfig {
  /** The check's name in metrics (`superset_ha_health_status{check}`), logs and /replicas. */
  readonly name: string;
  /** redis:// or rediss:// (PING), or postgresql:// / mysql:// (SELECT 1), chosen by the scheme. */
  readonly url: string;
  /** required: failing makes the replica unhealthy (deregistered); advisory: reported only. */
  readonly mode: 'required' | 'advisory';
}

/** A check of something Superset needs besides its metadata DB: a Redis, or an analytics data source. */
export function createDependencyCheck(dep: DependencyConfig, timeoutMs: number): HealthCheck {
  const advisory = dep.mode === 'advisory';
  if (/^rediss?:/.test(dep.url)) return new RedisCheck(dep.name, dep.url, timeoutMs, advisory);
  return createMetadataDbCheck(dep.url, timeoutMs, { name: dep.name, what: `data source ${dep.name}`, advisory });
}
