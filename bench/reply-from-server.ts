// The Node peer row of bench/proxy.sh: fastify + @fastify/reply-from with its defaults (an undici Agent,
// keep-alive to the backends), round-robining over the upstreams itself, one request at a time.
//   node bench/reply-from-server.ts PORT UPSTREAM_URL [UPSTREAM_URL...]
// Prints "listening" once it accepts connections; SIGTERM/SIGINT close it.
import replyFrom from '@fastify/reply-from';
import Fastify from 'fastify';

const [portArg, ...upstreams] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || upstreams.length === 0) {
  process.stderr.write('usage: node bench/reply-from-server.ts PORT UPSTREAM_URL [UPSTREAM_URL...]\n');
  process.exit(2);
}
const origins = upstreams.map((u) => new URL(u).origin);

const app = Fastify({ logger: false });
await app.register(replyFrom);
let next = 0;
app.all('/*', (req, reply) => {
  const origin = origins[next]!;
  next = (next + 1) % origins.length;
  return reply.from(origin + req.url);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
await app.listen({ host: '127.0.0.1', port });
process.stdout.write('listening\n');
