import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';

// RFC 9110 §7.6.1: connection-specific headers are for one hop only. reply-from was seen passing the
// backend's connection/keep-alive through (notes/proxy-baselines.md); we strip them both ways.
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

/**
 * Headers for the upstream request, as a flat [name, value, ...] list (undici's cheapest form): the
 * client's headers minus hop-by-hop ones, Host kept (Superset builds redirects from it), and
 * X-Forwarded-For/-Proto/-Host added or extended.
 */
export function upstreamRequestHeaders(req: IncomingMessage): string[] {
  const raw = req.rawHeaders;
  const extra = connectionListed(req.headers.connection);
  const out: string[] = [];
  let xff: string | undefined;
  let proto: string | undefined;
  let fwdHost: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || extra?.has(lower)) continue;
    if (lower === 'x-forwarded-for') {
      xff = xff === undefined ? raw[i + 1]! : `${xff}, ${raw[i + 1]!}`;
      continue;
    }
    if (lower === 'x-forwarded-proto') proto ??= raw[i + 1];
    else if (lower === 'x-forwarded-host') fwdHost ??= raw[i + 1];
    out.push(name, raw[i + 1]!);
  }
  const client = req.socket.remoteAddress ?? 'unknown';
  out.push('x-forwarded-for', xff === undefined ? client : `${xff}, ${client}`);
  if (proto === undefined) out.push('x-forwarded-proto', 'http');
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
