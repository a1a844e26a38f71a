import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode } from '../errors.ts';
import type { AttemptFailure } from '../routing/retry-policy.ts';
import { wasCutOff } from './body-guard.ts';
import type { ProxyCore, ProxyErrorCode } from './proxy.ts';

/** Who is told of the proxy's answers (the Proxy, or an Exchange's view of it). */
type Events = Pick<ProxyCore, 'emit'>;

// Requests the proxy cannot or will not forward because of how the client wrote them. They are answered 4xx
// by the proxy with its JSON error and never count against a replica (DESIGN.md invariant 7): otherwise any
// client could eject healthy replicas by sending a dozen of them.

/** Why a request is refused before it reaches the proxy, or undefined to forward it. */
export function clientRequestFault(req: IncomingMessage): { reason: string; message: string } | undefined {
  // RFC 9112 §3.2: more than one Host is a 400. Node keeps only the first in req.headers, so look at the raw list.
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host' && ++hosts > 1) {
      return { reason: 'duplicate_host', message: 'the request has more than one Host header' };
    }
  }
  return undefined;
}

/**
 * RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing; the server must close the
 * connection after answering it, whatever Connection says.
 */
export function mustCloseAfter(req: IncomingMessage): boolean {
  return req.httpVersionMinor === 0 && req.headers['transfer-encoding'] !== undefined;
}

/** Writes the proxy's JSON error for a client's fault, and tells metrics and logs (through the proxy's events). */
export function answerClientFault(
  proxy: Events,
  res: ServerResponse,
  status: number,
  code: ProxyErrorCode,
  message: string,
  details: Record<string, unknown>,
  started: number,
  close = false,
): void {
  proxy.emit('failure', code, status, details);
  proxy.emit('done', status, (performance.now() - started) / 1000, false);
  if (res.headersSent || res.destroyed) return;
  const body = JSON.stringify({ error: code, message, ...details });
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(body);
}

// undici refuses these before a byte is sent: they are about the request as the client wrote it (a header
// undici will not send, an invalid value), never about the replica.
const REQUEST_ERROR_CODES = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH']);

/**
 * Called with a failed attempt before the replica is blamed for it: true when the failure was the client's
 * (undici refused the request as written, or the body guard cut off a client that stopped sending). The
 * client has then been answered (4xx); the caller records nothing against the replica and stops. Neither case
 * can leave another attempt in flight: undici refuses a request before it is sent (so before any hedge), and
 * a streamed body (the only kind an attempt can be cut off in) is never replayed, so never hedged.
 */
export function refuseClientFault(
  proxy: Events,
  res: ServerResponse,
  outcome: { failure: AttemptFailure; error?: Error },
  started: number,
): boolean {
  // The guard has answered 408 and counted it already.
  if (wasCutOff(res)) return true;
  const f = outcome.failure;
  if (f.kind === 'status' || !REQUEST_ERROR_CODES.has(f.code)) return false;
  answerClientFault(proxy, res, 400, ErrorCode.PROXY_BAD_REQUEST, 'the request cannot be forwarded as written', {
    reason: 'refused_by_client_library',
    cause: f.code,
    ...(outcome.error === undefined ? {} : { detail: outcome.error.message }),
  }, started);
  return true;
}
