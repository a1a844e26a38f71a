// Correctness check run once per row before measuring (bench/proxy.sh):
//   node bench/check.ts URL BODY_FILE [--origin]
// Prints one line, "ok ..." or "FAIL: reason", and exits 0 / 1.
//
// A proxy must answer 200 with the backend's JSON body, byte for byte, and must not pass the backend's
// hop-by-hop headers (RFC 9110 §7.6.1) to its client. The bench's nginx backends mark theirs: they send
// `Keep-Alive: timeout=61` (bench/proxy.sh sets keepalive_timeout 75s 61s), a value no proxy here uses
// for its own client connections. So: a `timeout=61` anywhere, a second `Connection` / `Keep-Alive`
// header, or a keep-alive answer to a `Connection: close` request, means the backend's header leaked.
// With --origin (the direct row) the URL is the backend itself: only status and body are checked.
import { readFileSync } from 'node:fs';
import http from 'node:http';

const BACKEND_MARKER = 'timeout=61';
const DEADLINE_MS = 5_000;

interface Answer {
  status: number;
  raw: string[]; // name, value, name, value ... as received
  body: Buffer;
}

function get(url: string, close: boolean): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      url,
      { agent: false, headers: close ? { connection: 'close' } : { connection: 'keep-alive' }, signal: AbortSignal.timeout(DEADLINE_MS) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, raw: res.rawHeaders, body: Buffer.concat(chunks) });
          req.destroy(); // agent:false + keep-alive: do not leave the socket open
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
  });
}

function values(a: Answer, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < a.raw.length; i += 2) if (a.raw[i]!.toLowerCase() === name) out.push(a.raw[i + 1]!);
  return out;
}

function problems(a: Answer, expected: Buffer, close: boolean, origin: boolean): string[] {
  const p: string[] = [];
  if (a.status !== 200) p.push(`status ${a.status}`);
  if (!a.body.equals(expected)) p.push(`body differs (${a.body.length} bytes, expected ${expected.length})`);
  const type = values(a, 'content-type').join(',');
  if (!type.includes('application/json')) p.push(`content-type "${type}"`);
  if (origin) return p;
  const conn = values(a, 'connection');
  const ka = values(a, 'keep-alive');
  if (conn.length > 1) p.push(`${conn.length} Connection headers (${conn.join(' / ')})`);
  if (ka.length > 1) p.push(`${ka.length} Keep-Alive headers (${ka.join(' / ')})`);
  if ([...conn, ...ka].some((v) => v.includes(BACKEND_MARKER))) p.push(`backend's "Keep-Alive: ${BACKEND_MARKER}" passed through`);
  if (close && conn.some((v) => /keep-alive/i.test(v))) p.push('"Connection: keep-alive" answered to "Connection: close"');
  if (close && ka.length > 0 && !ka.some((v) => v.includes(BACKEND_MARKER))) p.push('Keep-Alive header answered to "Connection: close"');
  return p;
}

async function main(argv: string[]): Promise<number> {
  const origin = argv.includes('--origin');
  const [url, bodyFile] = argv.filter((a) => a !== '--origin');
  if (url === undefined || bodyFile === undefined) {
    process.stderr.write('usage: node bench/check.ts URL BODY_FILE [--origin]\n');
    return 2;
  }
  const expected = readFileSync(bodyFile);
  const found = new Set<string>(); // the same problem on both requests is reported once
  for (const close of [false, true]) {
    try {
      for (const problem of problems(await get(url, close), expected, close, origin)) found.add(problem);
    } catch (err) {
      found.add(`${close ? '"Connection: close"' : 'keep-alive'} request failed: ${(err as Error).message}`);
    }
  }
  if (found.size > 0) {
    process.stdout.write(`FAIL: ${[...found].join('; ')}\n`);
    return 1;
  }
  process.stdout.write(origin ? 'ok (200, body; origin)\n' : 'ok (200, body, no hop-by-hop)\n');
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
