import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { logProxy, refusedDrainLogger } from '../src/log-events.ts';
import { Proxy } from '../src/proxy/proxy.ts';
import { RetryBudget } from '../src/routing/retry-budget.ts';
import { RoutingTable } from '../src/routing/upstreams.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, lines };
}

describe('log lines that any client could trigger at will are rate-limited', () => {
  afterEach(() => vi.useRealTimers());

  it('refused POST /drain: at most one warn line per 10 s per code, carrying how many were refused', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const { log, lines } = capture();
    const refused = refusedDrainLogger(log);
    for (let i = 0; i < 2400; i++) refused('SHA_ADMIN_UNAUTHORIZED', '10.0.0.9');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ code: 'SHA_ADMIN_UNAUTHORIZED', count: 1, remote: '10.0.0.9', msg: 'refused POST /drain' });
    refused('SHA_ADMIN_DRAIN_DISABLED', undefined); // another code has its own window
    expect(lines).toHaveLength(2);
    vi.advanceTimersByTime(10_000);
    refused('SHA_ADMIN_UNAUTHORIZED', '10.0.0.9');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatchObject({ code: 'SHA_ADMIN_UNAUTHORIZED', count: 2400 });
  });

  it("the proxy's 4xx answers to a client's faults are limited the same way; its 5xx answers are each logged", () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const { log, lines } = capture();
    const table = new RoutingTable({ pool: { connections: 1, connectTimeoutMs: 100, keepAliveMs: 100 }, outlier: { consecutiveFailures: 5, baseEjectionMs: 100, maxEjectionMs: 100 }, maxEjectedPercent: 50, balance: {} });
    const proxy = new Proxy(table, new RetryBudget({ ratio: 0, minPerSec: 0, windowMs: 1000 }), {
      maxAttempts: 1, backoff: { baseMs: 0, maxMs: 0 }, maxReplayBodyBytes: 0, holdResponseBytes: 0, headersTimeoutMs: 100, bodyTimeoutMs: 100, retryAfterS: 1, hedge: { routes: [], delayMs: 1000 },
    });
    logProxy(proxy, log);
    for (let i = 0; i < 50; i++) proxy.emit('failure', 'SHA_PROXY_CLIENT_BODY_TIMEOUT', 408, { received: 3 });
    for (let i = 0; i < 50; i++) proxy.emit('failure', 'SHA_PROXY_BAD_REQUEST', 400, { reason: 'duplicate_host' });
    for (let i = 0; i < 3; i++) proxy.emit('failure', 'SHA_PROXY_NO_REPLICA', 503, {});
    expect(lines.map((l) => [l.code, l.count])).toEqual([
      ['SHA_PROXY_CLIENT_BODY_TIMEOUT', 1],
      ['SHA_PROXY_BAD_REQUEST', 1],
      ['SHA_PROXY_NO_REPLICA', undefined],
      ['SHA_PROXY_NO_REPLICA', undefined],
      ['SHA_PROXY_NO_REPLICA', undefined],
    ]);
    void table.close();
  });
});
