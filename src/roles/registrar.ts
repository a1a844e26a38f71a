import type { Config } from '../config.ts';
import { createDependencyCheck } from '../health/dependency.ts';
import type { HealthCheck } from '../health/check.ts';
import { createMetadataDbCheck } from '../health/metadata-db.ts';
import { HealthMonitor } from '../health/monitor.ts';
import { SupersetHttpCheck } from '../health/superset-http.ts';
import type { Logger } from '../log.ts';
import { logHealth, logRegistration } from '../log-events.ts';
import type { Metrics } from '../metrics.ts';
import type { ZkApi } from '../zookeeper/api.ts';
import { Registration } from '../zookeeper/registration.ts';

/**
 * The registrar role: health checks of the local replica (Superset, its metadata DB, the configured
 * dependencies) with rise/fall, and the replica's ephemeral znode kept present exactly while it is healthy.
 */
export class RegistrarRole {
  readonly monitor: HealthMonitor;
  readonly registration: Registration;

  constructor(zk: ZkApi, config: Config, metrics: Metrics, log: Logger, version: string) {
    const zkc = config.zookeeper;
    const checks: HealthCheck[] = [new SupersetHttpCheck(config.superset.url, config.superset.healthPath)];
    if (config.metadataDb) checks.push(createMetadataDbCheck(config.metadataDb.url, config.health.timeoutMs));
    for (const dep of config.dependencies) checks.push(createDependencyCheck(dep, config.health.timeoutMs));
    this.monitor = new HealthMonitor(checks, config.health);
    metrics.observeHealth(this.monitor);
    logHealth(this.monitor, log.child({ component: 'health' }));

    this.registration = new Registration(zk, {
      dir: `${zkc.root}/replicas`,
      payload: {
        id: config.replica.id,
        url: config.replica.url,
        zone: config.replica.zone,
        weight: config.replica.weight,
        version,
        startedAt: new Date().toISOString(),
      },
      jitterMs: zkc.registerJitterMs,
      drainAnnounceMs: config.shutdown.drainAnnounceMs,
      retry: { baseMs: zkc.retryBaseMs, maxMs: zkc.retryMaxMs },
    });
    metrics.observeRegistration(this.registration);
    logRegistration(this.registration, log.child({ component: 'registration' }));
    const registration = this.registration;
    this.monitor.on('change', ({ state }) => registration.setHealthy(state.kind === 'healthy'));
  }

  start(): void {
    this.registration.start();
    this.monitor.start();
  }

  /** Deregisters for good (announced as a drain); true once the znode is gone within `timeoutMs`. */
  drain(timeoutMs: number): Promise<boolean> {
    return this.registration.drain(timeoutMs);
  }

  async close(): Promise<void> {
    await this.monitor.close();
    this.registration.close();
  }
}
