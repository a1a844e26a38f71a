import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HotCounter, HotHistogram } from '../src/hot-metrics.ts';

// The hot-path metrics must be indistinguishable from prom-client's own on the wire: same lines, same order.
describe('hot metrics', () => {
  const buckets = [0.001, 0.01, 0.1, 1];
  const observations: [string, number][] = [['2xx', 0.0004], ['2xx', 0.001], ['5xx', 0.05], ['2xx', 0.5], ['2xx', 7], ['5xx', 0.02]];

  it('a histogram exposes what prom-client\'s Histogram exposes for the same observations', async () => {
    const theirs = new Registry();
    const h = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['status_class'], buckets, registers: [theirs] });
    const ours = new Registry();
    const hot = new HotHistogram(ours, { name: 'x_seconds', help: 'h', labelNames: ['status_class'], buckets });
    for (const [cls, v] of observations) {
      h.observe({ status_class: cls }, v);
      hot.child(cls).observe(v);
    }
    const expected = await theirs.metrics();
    expect(expected).toContain('x_seconds_bucket{le="0.01",status_class="5xx"} 0');
    expect(await ours.metrics()).toBe(expected);
  });

  it('a counter exposes what prom-client\'s Counter exposes, and reset() zeroes it', async () => {
    const theirs = new Registry();
    const c = new Counter({ name: 'y_total', help: 'c', labelNames: ['replica', 'code'], registers: [theirs] });
    const ours = new Registry();
    const hot = new HotCounter(ours, { name: 'y_total', help: 'c', labelNames: ['replica', 'code'] });
    const a = hot.child('r1', '200');
    for (let i = 0; i < 5; i++) {
      c.inc({ replica: 'r1', code: '200' });
      a.inc();
    }
    c.inc({ replica: 'r2', code: 'UND_ERR_SOCKET' }, 2);
    hot.child('r2', 'UND_ERR_SOCKET').inc(2);
    expect(hot.child('r1', '200')).toBe(a); // found once, then kept
    expect(await ours.metrics()).toBe(await theirs.metrics());
    theirs.resetMetrics();
    ours.resetMetrics();
    expect(await ours.metrics()).toContain('y_total{replica="r1",code="200"} 0');
    expect((await ours.getSingleMetric('y_total')!.get()).values).toHaveLength(2);
  });
});
