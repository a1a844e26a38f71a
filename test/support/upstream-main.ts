// A FakeUpstream in its own process, so tests can SIGKILL or SIGSTOP it like a crashed or hung replica.
// usage: node upstream-main.ts <id> [<path>=<mode> ...] [delay=<ms>] [port=<n>]
// stdout: "listening <port>", then "recv <x-id|-> <method> <path>" per request.
import { FakeUpstream, type UpstreamMode } from './upstream.ts';

const [id, ...rest] = process.argv.slice(2);
const up = new FakeUpstream(id ?? 'child');
let port = 0;
for (const arg of rest) {
  const [k, v] = arg.split('=') as [string, string];
  if (k === 'delay') up.delayMs = Number(v);
  else if (k === 'port') port = Number(v);
  else up.pathModes.set(k, v as UpstreamMode);
}
up.onReceived = (r) => {
  const xid = r.headers['x-id'];
  process.stdout.write(`recv ${typeof xid === 'string' ? xid : '-'} ${r.method} ${r.url.split('?')[0]}\n`);
};
await up.start(port);
process.stdout.write(`listening ${up.port}\n`);
