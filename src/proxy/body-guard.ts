import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, SidecarError } from '../errors.ts';
import { answerClientFault } from './client-request.ts';
import type { Proxy } from './proxy.ts';

export interface BodyGuardOptions {
  /** The whole request body must arrive within this long of the headers (0: no limit)... */
  readonly timeoutMs: number;
  /** ...extended by one second for every this many bytes received, so a large upload that keeps moving is never cut. */
  readonly minBytesPerSec: number;
}

// Responses to requests whose body the guard cut off. The proxy asks (client-request.ts) before blaming a
// replica for the attempt that the cut broke.
const cutOff = new WeakSet<ServerResponse>();

export function wasCutOff(res: ServerResponse): boolean {
  return cutOff.has(res);
}

/** While data waits in our buffer, the upstream (not the client) is slow; look again this much later. */
const STALL_RECHECK_MS = 1_000;
/** A client that does not read our 408 is cut anyway after this long. */
const ANSWER_GRACE_MS = 1_000;

/**
 * Cuts off a request body that trickles (the rule of Apache's mod_reqtimeout: a deadline that grows with
 * the bytes received), answering 408 and closing the connection. Without it, a client sending one byte a
 * second holds a proxy connection forever, and, once its body is streamed, an upstream connection (a
 * gunicorn worker) too. Cutting the body stream aborts the upstream attempt, which releases that connection.
 *
 * Costs one timer per request with a body; progress is read from the socket's byte count, so the body
 * stream itself is never touched (the proxy alone consumes it).
 */
export function guardBody(proxy: Proxy, req: IncomingMessage, res: ServerResponse, opts: BodyGuardOptions, started: number): void {
  if (opts.timeoutMs <= 0) return;
  const socket = req.socket;
  const base = socket.bytesRead;
  const t0 = Date.now();
  let credit = 0;
  let lastCheck = t0;
  let timer: NodeJS.Timeout | undefined;
  const stop = () => {
    clearTimeout(timer);
    timer = undefined;
  };
  const check = () => {
    timer = undefined;
    if (req.complete || req.destroyed) return;
    const now = Date.now();
    if (req.readableLength > 0) {
      credit += now - lastCheck;
      lastCheck = now;
      timer = setTimeout(check, STALL_RECHECK_MS);
      return;
    }
    lastCheck = now;
    const received = socket.bytesRead - base;
    const deadline = t0 + opts.timeoutMs + credit + (opts.minBytesPerSec > 0 ? (received * 1000) / opts.minBytesPerSec : 0);
    if (now < deadline) {
      timer = setTimeout(check, Math.ceil(deadline - now));
      return;
    }
    cut(received, now - t0);
  };
  const cut = (received: number, ms: number) => {
    stop();
    cutOff.add(res);
    req.off('end', stop);
    res.off('close', stop);
    const err = new SidecarError(ErrorCode.PROXY_CLIENT_BODY_TIMEOUT, 'the client stopped sending its request body', { details: { received, ms } });
    const destroy = () => req.destroy(err);
    const details = { received, ms, timeoutMs: opts.timeoutMs, minBytesPerSec: opts.minBytesPerSec, method: req.method, path: req.url?.slice(0, 100) };
    if (res.headersSent) {
      // The upstream already answered (and is streaming): only the body is cut.
      proxy.emit('failure', ErrorCode.PROXY_CLIENT_BODY_TIMEOUT, 408, details);
      destroy();
      return;
    }
    // Answer first, then cut: destroying the request closes the socket the answer goes out on.
    res.once('finish', destroy);
    setTimeout(destroy, ANSWER_GRACE_MS).unref();
    answerClientFault(proxy, res, 408, ErrorCode.PROXY_CLIENT_BODY_TIMEOUT, 'the request body did not arrive in time', details, started, true);
  };
  timer = setTimeout(check, opts.timeoutMs);
  req.once('end', stop);
  res.once('close', stop);
}
