/**
 * Superset's routes, classified by what a replay would do (DESIGN.md invariant 2). This file is the one
 * place that decides it; the retry policy only reads the class.
 *
 * - `idempotent`: safe methods; a replay reads again.
 * - `read-query`: Superset's read-only query endpoints; a replay re-runs a warehouse SELECT (or, with
 *   GLOBAL_ASYNC_QUERIES, queues a second job) — wasteful but harmless, and what users want on failover.
 * - `unsafe`: everything else, including SQL Lab execute (always inserts a Query row; may run DML/CTAS when
 *   the database allows it) and every write to charts, dashboards, databases, saved queries.
 */
export type RouteClass = 'idempotent' | 'read-query' | 'unsafe';

// POST endpoints that only read. Matched on the path without query string; trailing slash optional.
const READ_QUERY_POST: readonly RegExp[] = [
  /^\/api\/v1\/chart\/data\/?$/,
  // Legacy explore_json, with or without datasource type/id segments (deprecated; still served in 6.x).
  /^\/superset\/explore_json(\/[^/]+\/[^/]+)?\/?$/,
];

export function classifyRoute(method: string, url: string): RouteClass {
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return 'idempotent';
  if (method !== 'POST') return 'unsafe';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  for (const re of READ_QUERY_POST) if (re.test(path)) return 'read-query';
  return 'unsafe';
}
