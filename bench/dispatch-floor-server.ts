// The "floor" row of bench/proxy.sh: node:http + undici's dispatcher API, nothing else. It is the least any
// Node proxy built on those two pieces costs on this machine, so the report can show how close superset-ha
// (routing, retries, metrics, header hygiene on top of the same pieces) gets to it. It is a yardstick, not a
// proxy: no header rewriting (the backend's hop-by-hop headers reach the client, so its check FAILs), no
// timeouts, no retries, no metrics, no backpressure, and only bodiless requests (it dispatches with
// `body: null`; the bench sends GETs).
//   node bench/dispatch-floor-server.ts PORT UPSTREAM_URL [UPSTREAM_URL...]
// Prints "listening" once it accepts connections; SIGTERM/SIGINT close it.
import http from 'node:http';
import { Pool } from 'undici';

const [portArg, ...upstreams] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || upstreams.length === 0) {
  process.stderr.write('usage: node bench/dispatch-floor-server.ts PORT UPSTREAM_URL [UPSTREAM_URL...]\n');
  process.exit(2);
}
// One pool per origin, as superset-ha keeps one per replica, with pipelining 1 as it does (one request on an
// upstream connection at a time). The connection limit is undici's default (none); superset-ha's 256 is more
// than the bench's 50 client connections can use, so it makes no difference here.
const pools = upstreams.map((u) => new Pool(new URL(u).origin, { pipelining: 1 }));

let next = 0;
// keepAliveTimeout: superset-ha's default client keep-alive (proxy.clientKeepAliveMs). optimizeEmptyRequests
// (Node >= 24.12: a request without Content-Length/Transfer-Encoding skips the request stream's life cycle)
// because superset-ha's server sets it too: the comparison is like for like.
const server = http.createServer({ keepAliveTimeout: 65_000, optimizeEmptyRequests: true }, (req, res) => {
  const pool = pools[next]!;
  next = (next + 1) % pools.length;
  // The client's headers go upstream as received (rawHeaders, Host and Connection included): undici accepts
  // both, and a `Connection: close` from the client makes it close that upstream connection afterwards.
  // The backend's headers come back just as untouched.
  pool.dispatch(
    { path: req.url ?? '/', method: req.method ?? 'GET', headers: req.rawHeaders, body: null },
    {
      onRequestStart() {},
      onResponseStart(_controller, statusCode, headers) {
        res.writeHead(statusCode, headers);
      },
      onResponseData(_controller, chunk) {
        res.write(chunk);
      },
      onResponseEnd() {
        res.end();
      },
      onResponseError(_controller, err) {
        res.destroy(err);
      },
    },
  );
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close();
    server.closeAllConnections();
    Promise.all(pools.map((p) => p.close())).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
server.listen(port, '127.0.0.1', () => process.stdout.write('listening\n'));
