import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { retryReason, type AttemptFailure } from '../../src/routing/retry-policy.ts';
import { classifyRoute } from '../../src/routing/route-table.ts';

describe('Superset route table', () => {
  it.each([
    ['GET', '/api/v1/chart/', 'idempotent'],
    ['HEAD', '/health', 'idempotent'],
    ['OPTIONS', '/api/v1/chart/data', 'idempotent'],
    ['POST', '/api/v1/chart/data', 'read-query'],
    ['POST', '/api/v1/chart/data/', 'read-query'],
    ['POST', '/api/v1/chart/data?form_data=%7B%7D&dashboard_id=3', 'read-query'],
    ['POST', '/superset/explore_json/', 'read-query'],
    ['POST', '/superset/explore_json/table/12/', 'read-query'],
    ['POST', '/api/v1/sqllab/execute/', 'unsafe'],
    ['POST', '/api/v1/chart/', 'unsafe'],
    ['PUT', '/api/v1/chart/data', 'unsafe'],
    ['DELETE', '/api/v1/dashboard/3', 'unsafe'],
    ['POST', '/api/v1/database/', 'unsafe'],
    ['POST', '/api/v1/saved_query/', 'unsafe'],
    ['POST', '/api/v1/chart/data/extra', 'unsafe'],
    ['POST', '/api/v1/chart/datax', 'unsafe'],
    ['PATCH', '/anything', 'unsafe'],
  ])('%s %s is %s', (method, url, cls) => {
    expect(classifyRoute(method, url)).toBe(cls);
  });
});

describe('retry policy (property)', () => {
  const method = fc.constantFrom('GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'DELETE', 'PATCH');
  const path = fc.oneof(
    fc.constantFrom('/api/v1/chart/data', '/superset/explore_json/', '/api/v1/sqllab/execute/', '/api/v1/chart/1', '/api/v1/dashboard/'),
    fc.webPath(),
  );
  const failure: fc.Arbitrary<AttemptFailure> = fc.oneof(
    fc.record({ kind: fc.constant('not-sent' as const), code: fc.constantFrom('ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT') }),
    fc.record({ kind: fc.constant('maybe-received' as const), code: fc.constantFrom('UND_ERR_SOCKET', 'ECONNRESET', 'UND_ERR_HEADERS_TIMEOUT') }),
    fc.record({ kind: fc.constant('status' as const), status: fc.integer({ min: 200, max: 599 }) }),
  );

  it('never allows replaying an unsafe request that may have reached an upstream', () => {
    fc.assert(
      fc.property(method, path, failure, fc.boolean(), (m, p, f, replayable) => {
        const reason = retryReason(f, classifyRoute(m, p), replayable);
        if (f.kind !== 'not-sent' && classifyRoute(m, p) === 'unsafe') expect(reason).toBeUndefined();
        if (!replayable) expect(reason).toBeUndefined();
        if (f.kind === 'status' && ![502, 503, 504].includes(f.status)) expect(reason).toBeUndefined();
        if (f.kind === 'not-sent' && replayable) expect(reason).toBe('not_sent');
      }),
      { numRuns: 2000 },
    );
  });
});
