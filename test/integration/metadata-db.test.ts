import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.ts';
import { createMetadataDbCheck } from '../../src/health/metadata-db.ts';
import { freePort } from '../support/ports.ts';
import { PG_URL, pg } from '../support/realparts.ts';

describe('metadata DB check against real PostgreSQL', () => {
  const check = createMetadataDbCheck(PG_URL, 800);
  afterAll(() => check.close());

  it('passes with SELECT 1 and reuses its connection', async () => {
    await check.run(AbortSignal.timeout(800));
    await check.run(AbortSignal.timeout(800));
  });

  it('reports a wrong password as an auth failure', async () => {
    const bad = createMetadataDbCheck(PG_URL.replace('superset:superset@', 'superset:wrong@'), 800);
    await expect(bad.run(AbortSignal.timeout(800))).rejects.toMatchObject({ code: ErrorCode.HEALTH_DB_AUTH });
    await bad.close();
  });

  it('times out on a hung server (SIGSTOP) and recovers on a fresh connection after SIGCONT', async () => {
    await check.run(AbortSignal.timeout(800));
    await pg('pause');
    try {
      const started = Date.now();
      await expect(check.run(AbortSignal.timeout(800))).rejects.toMatchObject({ code: ErrorCode.HEALTH_TIMEOUT });
      expect(Date.now() - started).toBeLessThan(1500);
      // A new connection attempt must also be bounded while the server is hung.
      await expect(check.run(AbortSignal.timeout(800))).rejects.toMatchObject({ code: ErrorCode.HEALTH_TIMEOUT });
    } finally {
      await pg('resume');
    }
    await expect.poll(() => check.run(AbortSignal.timeout(800)).then(() => true, () => false), { timeout: 5000 }).toBe(true);
  });

  it('reports a stopped server as unreachable, and passes again once it is back', async () => {
    await pg('stop');
    try {
      // The kept connection is terminated by the shutdown (its query fails); the next attempt cannot connect.
      const first = await check.run(AbortSignal.timeout(800)).then(() => undefined, (e: unknown) => (e as { code: string }).code);
      expect([ErrorCode.HEALTH_DB_QUERY, ErrorCode.HEALTH_DB_UNREACHABLE]).toContain(first);
      await expect(check.run(AbortSignal.timeout(800))).rejects.toMatchObject({ code: ErrorCode.HEALTH_DB_UNREACHABLE });
    } finally {
      await pg('start');
    }
    await check.run(AbortSignal.timeout(800));
  });

  it('the MySQL driver reports a refused port as unreachable', async () => {
    const mysql = createMetadataDbCheck(`mysql://superset:superset@127.0.0.1:${await freePort()}/superset`, 800);
    await expect(mysql.run(AbortSignal.timeout(800))).rejects.toMatchObject({ code: ErrorCode.HEALTH_DB_UNREACHABLE });
    await mysql.close();
  });
});
