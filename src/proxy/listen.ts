import type { FastifyInstance } from 'fastify';

/** Starts a fastify listener and returns the address it got (port 0 means "any free port"). */
export async function listenOn(app: FastifyInstance, host: string, port: number, what: string): Promise<{ host: string; port: number }> {
  await app.listen({ host, port });
  const addr = app.server.address();
  if (addr === null || typeof addr === 'string') throw new Error(`${what} has no TCP address`);
  return { host: addr.address, port: addr.port };
}
