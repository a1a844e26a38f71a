import { Agent, request, errors as undiciErrors } from 'undici';
import { ErrorCode, SidecarError } from '../errors.ts';
import type { HealthCheck } from './check.ts';

/** Superset's /health answers a plain "OK"; anything much longer is not Superset's health endpoint. */
const MAX_BODY_BYTES = 1024;

/**
 * GET <superset>/health with no cookies: on recent Superset a probe carrying a session cookie runs session
 * hooks that query the metadata DB (notes/superset.md), which is the metadata DB check's job, not this one's.
 */
export class SupersetHttpCheck implements HealthCheck {
  readonly name = 'superset';
  readonly #url: string;
  // Its own small agent: probes must not queue behind (or be starved by) proxied traffic.
  readonly #agent = new Agent({ connections: 1, keepAliveTimeout: 1_000, keepAliveMaxTimeout: 1_000 });

  constructor(baseUrl: string, healthPath: string) {
    this.#url = new URL(healthPath, baseUrl).toString();
  }

  async run(signal: AbortSignal): Promise<void> {
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(this.#url, {
        method: 'GET',
        dispatcher: this.#agent,
        signal,
        headers: { accept: 'text/plain', 'user-agent': 'superset-ha-health' },
      });
    } catch (err) {
      if (signal.aborted) throw new SidecarError(ErrorCode.HEALTH_TIMEOUT, 'Superset health check timed out', { cause: err, details: { url: this.#url } });
      throw new SidecarError(ErrorCode.HEALTH_HTTP_UNREACHABLE, 'Superset is unreachable', {
        cause: err,
        details: { url: this.#url, reason: err instanceof undiciErrors.UndiciError ? err.code : String(err) },
      });
    }
    let body: string;
    try {
      body = await readBounded(res.body, MAX_BODY_BYTES);
    } catch (err) {
      if (signal.aborted) throw new SidecarError(ErrorCode.HEALTH_TIMEOUT, 'Superset health check timed out', { cause: err, details: { url: this.#url } });
      throw new SidecarError(ErrorCode.HEALTH_HTTP_UNREACHABLE, 'Superset health response broke off', { cause: err, details: { url: this.#url } });
    }
    if (res.statusCode !== 200) {
      throw new SidecarError(ErrorCode.HEALTH_HTTP_STATUS, `Superset health answered ${res.statusCode}`, {
        details: { url: this.#url, status: res.statusCode },
      });
    }
    if (body.trim() !== 'OK') {
      throw new SidecarError(ErrorCode.HEALTH_HTTP_BODY, 'Superset health body is not "OK"', {
        details: { url: this.#url, body: body.slice(0, 80) },
      });
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}

async function readBounded(body: AsyncIterable<Buffer> & { destroy(): void }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      return Buffer.concat(chunks).toString('utf8') + '…';
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
