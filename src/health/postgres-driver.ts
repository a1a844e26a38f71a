import pg from 'pg';
import type { SqlDriver } from './metadata-db.ts';

// pg's Client keeps its socket on `connection.stream`; the only way to drop a hung connection at once.
interface PgInternals {
  connection?: { stream?: { destroy(): void } };
}

export const postgresDriver: SqlDriver<pg.Client> = {
  async connect(url, timeoutMs) {
    const client = new pg.Client({
      connectionString: url,
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
      keepAlive: true,
      application_name: 'superset-ha-health',
    });
    // An idle connection can fail between checks (server restart); without a listener that would crash us.
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      postgresDriver.destroy(client);
      throw err;
    }
    return client;
  },
  async ping(client, timeoutMs) {
    await client.query({ text: 'SELECT 1', query_timeout: timeoutMs } as pg.QueryConfig);
  },
  destroy(client) {
    (client as unknown as PgInternals).connection?.stream?.destroy();
    client.end().catch(() => undefined);
  },
  isAuthError(err) {
    const code = (err as { code?: unknown } | null)?.code;
    return code === '28P01' || code === '28000'; // invalid_password, invalid_authorization_specification
  },
};
