import mysql2 from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.ts';
import { createMetadataDbCheck } from '../../src/health/metadata-db.ts';
import { MYSQL_URL, mysql } from '../support/realparts.ts';

// The MySQL half of metadata-db.test.ts, against a real MariaDB server run by scripts/mysql.sh.
describe('metadata DB check against real MariaDB (MySQL protocol)', () => {
  const TIMEOUT_MS = 800;
  const check = createMetadataDbCheck(MYSQL_URL, TIMEOUT_MS);

  beforeAll(async () => {
    await mysql('start');
  });

  afterAll(async () => {
    await check.close();
    if (process.env.SHA_KEEP_PARTS !== '1') await mysql('stop');
  });

  /** The server's count of connection attempts so far, read over a connection of its own (opened once). */
  async function connectionsSoFar(observer: mysql2.Connection): Promise<number> {
    const [rows] = await observer.query<mysql2.RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'Connections'");
    return Number(rows[0]?.['Value']);
  }

  it('passes with SELECT 1 and reuses its connection', async () => {
    await check.run(AbortSignal.timeout(TIMEOUT_MS));
    const observer = await mysql2.createConnection({ uri: MYSQL_URL, connectTimeout: 5000 });
    try {
      const before = await connectionsSoFar(observer);
      await check.run(AbortSignal.timeout(TIMEOUT_MS));
      await check.run(AbortSignal.timeout(TIMEOUT_MS));
      expect(await connectionsSoFar(observer)).toBe(before);
    } finally {
      await observer.end();
    }
  });

  it('reports a wrong password as an auth failure', async () => {
    const bad = createMetadataDbCheck(MYSQL_URL.replace('superset:superset@', 'superset:wrong@'), TIMEOUT_MS);
    await expect(bad.run(AbortSignal.timeout(TIMEOUT_MS))).rejects.toMatchObject({ code: ErrorCode.HEALTH_DB_AUTH });
    await bad.close();
  });

  it('times out on a hung server (SIGSTOP) and recovers on a fresh connection after SIGCONT', async () => {
    await check.run(AbortSignal.timeout(TIMEOUT_MS));
    await mysql('pause');
    try {
      // The kept connection: SELECT 1 gets no answer.
      let started = Date.now();
      await expect(check.run(AbortSignal.timeout(TIMEOUT_MS))).rejects.toMatchObject({ code: ErrorCode.HEALTH_TIMEOUT });
      expect(Date.now() - started).toBeLessThan(1500);
      // A new connection attempt must also be bounded while the server is hung (the kernel accepts the TCP
      // connection; the server's handshake never comes).
      started = Date.now();
      await expect(check.run(AbortSignal.timeout(TIMEOUT_MS))).rejects.toMatchObject({ code: ErrorCode.HEALTH_TIMEOUT });
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      await mysql('resume');
    }
    await expect.poll(() => check.run(AbortSignal.timeout(TIMEOUT_MS)).then(() => true, () => false), { timeout: 5000 }).toBe(true);
  });

  it('reports a stopped server as unreachable, and passes again once it is back', async () => {
    await check.run(AbortSignal.timeout(TIMEOUT_MS));
    await mysql('stop');
    try {
      // The kept connection is closed by the shutdown (its query fails); the next attempt cannot connect.
      const first = await check.run(AbortSignal.timeout(TIMEOUT_MS)).then(() => undefined, (e: unknown) => (e as { code: string }).code);
      expect([ErrorCode.HEALTH_DB_QUERY, ErrorCode.HEALTH_DB_UNREACHABLE]).toContain(first);
      await expect(check.run(AbortSignal.timeout(TIMEOUT_MS))).rejects.toMatchObject({ code: ErrorCode.HEALTH_DB_UNREACHABLE });
    } finally {
      await mysql('start');
    }
    await check.run(AbortSignal.timeout(TIMEOUT_MS));
  });
});
