import { readFileSync } from 'node:fs';
import type { LoadRequest } from './load.ts';
import type { Session } from './superset-session.ts';
import type { Target } from './target.ts';

/** The tag a drill puts in each SQL Lab execute, so its rows in Superset's `query` table can be counted per request. */
export const sqlTag = (runId: string, seq: number) => `drill:${runId}:${seq}`;

/**
 * Real Superset traffic of a logged-in user: the dashboard and chart lists, a dashboard, chart data (read-only
 * POST), and SQL Lab executes (never safe to replay). Each execute carries its own tag in a SQL comment.
 */
export function supersetMix(target: Target, session: Session, runId: string, sqllabShare: number, origin: string): (seq: number) => LoadRequest {
  const s = target.superset!;
  const chartData = readFileSync(s.chartDataFile, 'utf8');
  const sqllab = JSON.parse(readFileSync(s.sqllabFile, 'utf8')) as { sql: string };
  let dashboard = '/api/v1/dashboard/';
  if (s.seedFile) {
    const seed = JSON.parse(readFileSync(s.seedFile, 'utf8')) as { dashboard_id?: number };
    if (seed.dashboard_id !== undefined) dashboard = `/api/v1/dashboard/${seed.dashboard_id}`;
  }
  const headers = { cookie: session.cookie, 'x-csrftoken': session.csrf, referer: `${origin}/sqllab/`, accept: 'application/json' };
  const json = { ...headers, 'content-type': 'application/json' };
  // A fixed, interleaved pattern (not random): runs are comparable and every class appears in every second.
  const every = sqllabShare > 0 ? Math.max(1, Math.round(1 / sqllabShare)) : 0;
  return (seq) => {
    if (every > 0 && seq % every === every - 1) {
      const sql = `${sqllab.sql.replace(/;\s*$/, '')} /* ${sqlTag(runId, seq)} */`;
      return { route: 'sqllab', method: 'POST', path: '/api/v1/sqllab/execute/', headers: json, body: JSON.stringify({ ...sqllab, sql }) };
    }
    switch (seq % 4) {
      case 0:
        return { route: 'dashboard', method: 'GET', path: dashboard, headers };
      case 1:
        return { route: 'chart-list', method: 'GET', path: '/api/v1/chart/?q=(page_size:25)', headers };
      case 2:
        return { route: 'chart-data', method: 'POST', path: '/api/v1/chart/data', headers: json, body: chartData };
      default:
        return { route: 'dashboard', method: 'GET', path: '/api/v1/dashboard/?q=(page_size:25)', headers };
    }
  };
}

/** Plain HTTP load for lightweight upstreams (bench/failover.sh): reads, and POSTs tagged with x-id. */
export function httpMix(target: Target, runId: string, writeShare: number): (seq: number) => LoadRequest {
  const h = target.http!;
  const every = writeShare > 0 ? Math.max(1, Math.round(1 / writeShare)) : 0;
  return (seq): LoadRequest => {
    if (every > 0 && seq % every === every - 1) {
      return { route: 'write', method: 'POST', path: h.writePath, headers: { 'x-id': sqlTag(runId, seq), 'content-type': 'application/json' }, body: '{}' };
    }
    return { route: 'read', method: 'GET', path: h.readPath, headers: { 'x-id': `r${seq}` } };
  };
}
