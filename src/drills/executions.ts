import { readFile } from 'node:fs/promises';
import pg from 'pg';
import type { Target } from './target.ts';

// How many times each unsafe request actually ran, read from the system's own records rather than from
// what clients saw: a replayed SQL Lab execute is a second row in Superset's `query` table.

const TAG = (runId: string) => new RegExp(`drill:${runId.replace(/[^A-Za-z0-9-]/g, '')}:(\\d+)`);

/** Rows of Superset's `query` table per drill request (the tag in the SQL comment). */
export async function countSqlLabRows(dbUrl: string, runId: string): Promise<Map<number, number>> {
  const client = new pg.Client({ connectionString: dbUrl, connectionTimeoutMillis: 5000, statement_timeout: 15_000 });
  await client.connect();
  try {
    const r = await client.query<{ sql: string }>('SELECT sql FROM query WHERE sql LIKE $1', [`%drill:${runId}:%`]);
    return tally(r.rows.map((x) => x.sql), runId);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Upstream logs of "recv <x-id> <METHOD> <path>" lines (bench/): POSTs per drill request. */
export async function countReceived(files: readonly string[], runId: string): Promise<Map<number, number>> {
  const lines: string[] = [];
  for (const f of files) {
    const text = await readFile(f, 'utf8').catch(() => '');
    for (const l of text.split('\n')) if (l.startsWith('recv ') && l.includes(' POST ')) lines.push(l);
  }
  return tally(lines, runId);
}

export function tally(texts: readonly string[], runId: string): Map<number, number> {
  const re = TAG(runId);
  const m = new Map<number, number>();
  for (const t of texts) {
    const x = re.exec(t);
    if (x) m.set(Number(x[1]), (m.get(Number(x[1])) ?? 0) + 1);
  }
  return m;
}

/** The target's way of counting executions, or null when it has none. */
export async function countExecutions(t: Target, runId: string): Promise<Map<number, number> | null> {
  if (t.superset && t.metadataDb) return countSqlLabRows(t.metadataDb.url, runId);
  if (t.receiveLogs) return countReceived(t.receiveLogs, runId);
  return null;
}
