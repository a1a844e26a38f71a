import type { HedgeOptions, ProxyOptions } from '../proxy/proxy.ts';
import type { OutlierOptions } from '../routing/outlier.ts';
import type { RetryBudget } from '../routing/retry-budget.ts';
import type { RoutingTableOptions } from '../routing/upstreams.ts';
import type { ReplicaPayload } from '../zookeeper/payload.ts';
import type { RuntimeConfig } from '../zookeeper/runtime-config-schema.ts';

export interface TuningBase {
  readonly retry: { readonly maxAttempts: number; readonly budgetRatio: number; readonly budgetMinPerSec: number };
  readonly outlier: OutlierOptions & { readonly maxEjectedPercent: number };
  readonly hedge: HedgeOptions;
}

/**
 * The router's settings in force: the file config overlaid with the shared runtime config. The routing parts
 * read options on each use, so the objects handed out here read through to the values in force and a change
 * needs no rebuild of pools or outlier state. The retry budget is told explicitly.
 */
export class RuntimeTuning {
  readonly #base: TuningBase;
  #doc: RuntimeConfig | undefined;
  readonly #budgets: RetryBudget[] = [];
  // Computed once per change: maxAttempts is read on every proxied request.
  #retry: TuningBase['retry'];
  #outlier: TuningBase['outlier'];
  #hedge: HedgeOptions;

  constructor(base: TuningBase) {
    this.#base = base;
    this.#retry = base.retry;
    this.#outlier = base.outlier;
    this.#hedge = base.hedge;
  }

  apply(doc: RuntimeConfig): void {
    this.#doc = doc;
    this.#retry = { ...this.#base.retry, ...doc.retry };
    this.#outlier = { ...this.#base.outlier, ...doc.outlier };
    this.#hedge = { ...this.#base.hedge, ...doc.hedge };
    const { budgetRatio, budgetMinPerSec } = this.#retry;
    for (const b of this.#budgets) b.reconfigure({ ratio: budgetRatio, minPerSec: budgetMinPerSec });
  }

  get retry(): TuningBase['retry'] {
    return this.#retry;
  }

  get outlier(): TuningBase['outlier'] {
    return this.#outlier;
  }

  get hedge(): HedgeOptions {
    return this.#hedge;
  }

  /** Replica ids the runtime config puts in maintenance. */
  get maintenance(): string[] {
    return Object.entries(this.#doc?.replicas ?? {})
      .filter(([, r]) => r.maintenance === true)
      .map(([id]) => id)
      .sort();
  }

  /** The live set as routers should see it: replicas in maintenance left out, weights overridden. */
  overlay(replicas: readonly ReplicaPayload[]): ReplicaPayload[] {
    const per = this.#doc?.replicas ?? {};
    const out: ReplicaPayload[] = [];
    for (const r of replicas) {
      const o = per[r.id];
      // Maintenance is a drain without a restart: no new requests, but those in flight there finish (a replica
      // simply dropped from the set would count as failed and have them moved).
      if (o?.maintenance === true) out.push({ ...r, state: 'draining' });
      else out.push(o?.weight !== undefined && o.weight !== r.weight ? { ...r, weight: o.weight } : r);
    }
    return out;
  }

  /** Routing table options whose outlier settings follow the runtime config. */
  tableOptions(opts: RoutingTableOptions): RoutingTableOptions {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the getters below read through to this instance
    const self = this;
    const outlier: OutlierOptions = {
      get consecutiveFailures() {
        return self.outlier.consecutiveFailures;
      },
      get baseEjectionMs() {
        return self.outlier.baseEjectionMs;
      },
      get maxEjectionMs() {
        return self.outlier.maxEjectionMs;
      },
    };
    return {
      ...opts,
      outlier,
      get maxEjectedPercent() {
        return self.outlier.maxEjectedPercent;
      },
    };
  }

  /** Proxy options whose maxAttempts and hedge settings follow the runtime config. */
  proxyOptions(opts: ProxyOptions): ProxyOptions {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the getter reads through to this instance
    const self = this;
    return {
      ...opts,
      get maxAttempts() {
        return self.retry.maxAttempts;
      },
      get hedge() {
        return self.hedge;
      },
    };
  }

  /** The budget whose ratio and floor follow the runtime config. */
  budget(b: RetryBudget): RetryBudget {
    this.#budgets.push(b);
    const { budgetRatio, budgetMinPerSec } = this.retry;
    b.reconfigure({ ratio: budgetRatio, minPerSec: budgetMinPerSec });
    return b;
  }
}
