import mysql from 'mysql2/promise';
import type { SqlDriver } from './metadata-db.ts';

export const mysqlDriver: SqlDriver<mysql.Connection> = {
  async connect(url, timeoutMs) {
    const conn = await mysql.createConnection({ uri: url, connectTimeout: timeoutMs, enableKeepAlive: true });
    // An idle connection can fail between checks; without a listener that would crash us.
    conn.on('error', () => undefined);
    return conn;
  },
  async ping(conn, timeoutMs) {
    await conn.query({ sql: 'SELECT 1', timeout: timeoutMs });
  },
  destroy(conn) {
    conn.destroy();
  },
  isAuthError(err) {
    const code = (err as { code?: unknown } | null)?.code;
    return code === 'ER_ACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR';
  },
};
