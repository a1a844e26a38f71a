import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';

// RFC 9110 §7.6.1: connection-specific headers are for one hop only. reply-from was seen passing the
// backend's connection/keep-alive through in our baseline measurements; we strip them both ways.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** Extra per-request hop-by-hop names listed in a Connection header ("Connection: close, x-foo"). */
function connectionListed(value: string | undefined): Set<string> | undefined {
  if (value === undefined || value === '' || value === 'keep-alive' || value === 'close') return undefined;
  const names = new Set<string>();
  for (const part of value.split(',')) {
    const n = part.trim().toLowerCase();
    if (n !== '' && n !== 'close' && n !== 'keep-alive') names.add(n);
  }
  return names.size > 0 ? names : undefined;
}

// How each request header the proxy treats specially is handled: one Map lookup per header on the hot path.
const Kind = {
  Drop: 1, // hop-by-hop, or answered by the proxy itself (Expect: 100-continue)
  ForwardedFor: 2,
  ForwardedProto: 3,
  ForwardedHost: 4,
  /** Forwarding facts only an ingress we trust may assert; from anyone else they are dropped. */
  ForwardedOther: 5,
} as const;
type Kind = (typeof Kind)[keyof typeof Kind];
const REQUEST_KINDS = new Map<string, Kind>([
  ...[...HOP_BY_HOP].map((n): [string, Kind] => [n, Kind.Drop]),
  // Node's server has already answered "100 Continue" (or 417 to anything else) and streams the body on;
  // undici refuses to send Expect at all, so passing it on would fail the request (UND_ERR_NOT_SUPPORTED).
  ['expect', Kind.Drop],
  ['x-forwarded-for', Kind.ForwardedFor],
  ['x-forwarded-proto', Kind.ForwardedProto],
  ['x-forwarded-host', Kind.ForwardedHost],
  ['x-forwarded-port', Kind.ForwardedOther],
  ['x-forwarded-prefix', Kind.ForwardedOther],
  ['forwarded', Kind.ForwardedOther],
  ['x-real-ip', Kind.ForwardedOther],
]);

// Connections from a peer in proxy.trustedProxies (decided once per connection by the server, so the
// per-request cost is one WeakSet lookup). Anything not marked is untrusted: the safe default.
const trustedConnections = new WeakSet<object>();

/** Marks a client connection as coming from a trusted proxy (the ingress): its forwarded headers are kept. */
export function trustConnection(socket: object): void {
  trustedConnections.add(socket);
}

/**
 * Headers for the upstream request, as a flat [name, value, ...] list (undici's cheapest form): the
 * client's headers minus hop-by-hop ones, Host kept (Superset builds redirects from it), X-Forwarded-For
 * extended with the peer's address, and X-Forwarded-Proto/-Host set.
 *
 * Superset (ENABLE_PROXY_FIX) trusts one level of X-Forwarded-*: ours. So from a peer that is not a trusted
 * proxy, the client's X-Forwarded-Proto/-Host/-Port/-Prefix, Forwarded and X-Real-IP are replaced by what
 * the sidecar saw itself (no port or prefix beyond Host); from a trusted one (the ingress) they are kept,
 * and Proto/Host only added when absent.
 */
export function upstreamRequestHeaders(req: IncomingMessage): string[] {
  const raw = req.rawHeaders;
  const trusted = trustedConnections.has(req.socket);
  const extra = connectionListed(req.headers.connection);
  const out: string[] = [];
  let xff: string | undefined;
  let proto: string | undefined;
  let fwdHost: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    const kind = REQUEST_KINDS.get(lower);
    if (kind === undefined) {
      if (extra?.has(lower) !== true) out.push(name, raw[i + 1]!);
      continue;
    }
    if (kind === Kind.Drop) continue;
    if (kind === Kind.ForwardedFor) {
      xff = xff === undefined ? raw[i + 1]! : `${xff}, ${raw[i + 1]!}`;
      continue;
    }
    if (!trusted) continue;
    if (kind === Kind.ForwardedProto) proto ??= raw[i + 1];
    else if (kind === Kind.ForwardedHost) fwdHost ??= raw[i + 1];
    out.push(name, raw[i + 1]!);
  }
  const client = req.socket.remoteAddress ?? 'unknown';
  out.push('x-forwarded-for', xff === undefined ? client : `${xff}, ${client}`);
  if (proto === undefined) out.push('x-forwarded-proto', (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http');
  if (fwdHost === undefined && req.headers.host !== undefined) out.push('x-forwarded-host', req.headers.host);
  return out;
}

/** The upstream response's headers for the client, minus hop-by-hop ones (Set-Cookie arrays kept). */
export function clientResponseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const extra = connectionListed(typeof headers.connection === 'string' ? headers.connection : undefined);
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || extra?.has(name)) continue;
    out[name] = headers[name];
  }
  return out;
}
