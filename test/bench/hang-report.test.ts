import { describe, expect, it } from 'vitest';
import { report, type Sample } from '../../bench/hang-report.ts';

// The hang bench's figures are only as good as its windowing and percentiles: pin them.
const s = (i: number, startMs: number, latencyMs: number, status = 200, backend = 'b', entry = '1'): Sample => ({
  peer: 'p',
  entry,
  i,
  startMs,
  latencyMs,
  status,
  backend,
  error: status === 0 ? 'UND_ERR_SOCKET' : '',
});

describe('hang-report', () => {
  const timeline = { rate: 1, seconds: 10, stopAtMs: 1000, contAtMs: 5000 };
  const samples = [
    s(0, 0, 10), // answered before the hang: overall only
    s(1, 900, 4300, 200, 'a'), // in flight when it began, waited for it to end
    s(2, 2000, 10), // sent during the hang
    s(3, 3000, 20, 0), // failed without a status
    s(4, 4900, 3000, 503), // sent just before the end
    s(5, 6000, 10), // after: overall only
  ];
  const out = report(samples, timeline, ['p']);

  it('counts in the hang window exactly the requests in flight at some moment of it', () => {
    expect(out).toContain('| p | during the hang | 4 | 2 (UND_ERR_SOCKET×1 503×1) | 20.0 ms | 4.30 s | 4.30 s | 2 |');
  });

  it('reports every request overall with nearest-rank percentiles', () => {
    expect(out).toContain('| p | overall | 6 | 2 (UND_ERR_SOCKET×1 503×1) | 10.0 ms | 4.30 s | 4.30 s | 2 |');
  });

  it('says where the slow requests entered and which backend answered them', () => {
    expect(out).toContain('* p, requests > 2 s: 1 via :1, answered by a; 1 via :1, answered by b.');
  });
});
