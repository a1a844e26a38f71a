// The memory floor under any sidecar built on this project's dependencies (bench/scale.ts starts it beside
// the router-only sidecar, with the same heap flags and a warmed compile cache, and reports both RSS
// figures from the same run):
//   node <heap flags> bench/library-floor.ts [CONNECT]
// Loads and uses, once each, what a router-only sidecar cannot do without: fastify listening on
// 127.0.0.1, an undici Pool, prom-client with its default process metrics (scraped once), pino, zod and
// yaml, and node-zookeeper-client connected to the ensemble when CONNECT is given. None of the project's
// own code. Prints "ready" on stdout once all of it is up, then idles until it is signalled.
import Fastify from 'fastify';
import * as zookeeper from 'node-zookeeper-client';
import pino from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { Pool } from 'undici';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const connect = process.argv[2];
const logger = pino({ level: 'info' });
const schema = z.object({ proxy: z.object({ port: z.number().int() }) });
schema.parse(parseYaml('proxy:\n  port: 1\n'));

const register = new Registry();
collectDefaultMetrics({ register, prefix: 'floor_' });
await register.metrics();

const pool = new Pool('http://127.0.0.1:1', { connections: 8 });
const app = Fastify();
app.get('/', () => 'floor');
await app.listen({ host: '127.0.0.1', port: 0 });

let zk: ReturnType<typeof zookeeper.createClient> | undefined;
if (connect !== undefined && connect !== '') {
  const client = zookeeper.createClient(connect, { sessionTimeout: 10_000 });
  zk = client;
  await new Promise<void>((resolve) => {
    client.once('connected', () => resolve());
    client.connect();
  });
}

logger.info({ event: 'floor' }, 'libraries loaded');
process.stdout.write('ready\n');
const stop = (): void => {
  zk?.close();
  void pool.close();
  void app.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
