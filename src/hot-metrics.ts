import type { Metric, Registry } from 'prom-client';

// The two metrics every proxied request touches. prom-client validates and hashes the labels on every
// inc()/observe(), even through a cached labels() child: about 2.5 µs a request in the proxy benchmark's
// profile, some 3 % of the whole request. These keep each label combination's numbers in a plain object
// found once, and hand prom-client the same samples its own Counter and Histogram would, at scrape time.

interface Sample {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

interface Exposed {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: Sample[];
}

/** What the registry calls on a metric: its name, get() at scrape time, reset() from resetMetrics(). */
abstract class HotMetric<C> {
  readonly name: string;
  readonly help: string;
  protected readonly labelNames: readonly string[];
  protected readonly children = new Map<string, C>();

  constructor(registry: Registry, name: string, help: string, labelNames: readonly string[]) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    // The registry only reads name and type and calls get()/reset(): the shape prom-client's own metrics have.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The child for these label values (in labelNames order): look it up once, keep it. */
  child(...values: (string | number)[]): C {
    const key = values.join('\u0000');
    let c = this.children.get(key);
    if (c === undefined) {
      const labels: Record<string, string | number> = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i]!));
      this.children.set(key, (c = this.newChild(labels)));
    }
    return c;
  }

  protected abstract newChild(labels: Record<string, string | number>): C;

  abstract get(): Promise<Exposed>;
  abstract reset(): void;
}

export class HotCounterChild {
  value = 0;
  readonly labels: Record<string, string | number>;
  constructor(labels: Record<string, string | number>) {
    this.labels = labels;
  }
  inc(n = 1): void {
    this.value += n;
  }
}

/** A counter whose children are found once (child()) and then cost one addition per inc(). */
export class HotCounter extends HotMetric<HotCounterChild> {
  readonly type = 'counter';

  constructor(registry: Registry, opts: { name: string; help: string; labelNames: readonly string[] }) {
    super(registry, opts.name, opts.help, opts.labelNames);
  }

  protected newChild(labels: Record<string, string | number>): HotCounterChild {
    return new HotCounterChild(labels);
  }

  get(): Promise<Exposed> {
    const values = [...this.children.values()].map((c) => ({ value: c.value, labels: { ...c.labels } }));
    return Promise.resolve({ name: this.name, help: this.help, type: 'counter', aggregator: 'sum', values });
  }

  reset(): void {
    for (const c of this.children.values()) c.value = 0;
  }
}

export class HotHistogramChild {
  readonly counts: number[];
  sum = 0;
  count = 0;
  readonly labels: Record<string, string | number>;
  readonly #bounds: readonly number[];

  constructor(labels: Record<string, string | number>, bounds: readonly number[]) {
    this.labels = labels;
    this.#bounds = bounds;
    this.counts = new Array<number>(bounds.length).fill(0);
  }

  observe(v: number): void {
    const b = this.#bounds;
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.sum += v;
    this.count++;
  }
}

/** A histogram (cumulative `le` buckets, _sum, _count, as prom-client's) with cheap found-once children. */
export class HotHistogram extends HotMetric<HotHistogramChild> {
  readonly type = 'histogram';
  readonly #bounds: readonly number[];

  constructor(registry: Registry, opts: { name: string; help: string; labelNames: readonly string[]; buckets: readonly number[] }) {
    super(registry, opts.name, opts.help, opts.labelNames);
    this.#bounds = [...opts.buckets].sort((a, b) => a - b);
  }

  protected newChild(labels: Record<string, string | number>): HotHistogramChild {
    return new HotHistogramChild(labels, this.#bounds);
  }

  get(): Promise<Exposed> {
    const values: Sample[] = [];
    for (const c of this.children.values()) {
      let acc = 0;
      this.#bounds.forEach((le, i) => {
        acc += c.counts[i]!;
        values.push({ value: acc, labels: { le, ...c.labels }, metricName: `${this.name}_bucket` });
      });
      values.push({ value: c.count, labels: { le: '+Inf', ...c.labels }, metricName: `${this.name}_bucket` });
      values.push({ value: c.sum, labels: { ...c.labels }, metricName: `${this.name}_sum` });
      values.push({ value: c.count, labels: { ...c.labels }, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values });
  }

  reset(): void {
    for (const c of this.children.values()) {
      c.counts.fill(0);
      c.sum = 0;
      c.count = 0;
    }
  }
}
