import { request } from 'undici';

/** The few calls of Toxiproxy's HTTP API the drills use (github.com/Shopify/toxiproxy README, "HTTP API"). */
export class Toxiproxy {
  readonly #api: string;
  constructor(api: string) {
    this.#api = api.replace(/\/$/, '');
  }

  async #call(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
    const r = await request(`${this.#api}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: 5000,
      bodyTimeout: 5000,
    });
    const text = await r.body.text();
    if (r.statusCode >= 300 && !(method === 'DELETE' && r.statusCode === 404)) throw new Error(`toxiproxy ${method} ${path}: ${r.statusCode} ${text.slice(0, 200)}`);
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  }

  /** (Re)creates a proxy listening on `listen` (host:port) and forwarding to `upstream`. */
  async proxy(name: string, listen: string, upstream: string): Promise<void> {
    await this.#call('DELETE', `/proxies/${name}`);
    await this.#call('POST', '/proxies', { name, listen, upstream, enabled: true });
  }

  async deleteProxy(name: string): Promise<void> {
    await this.#call('DELETE', `/proxies/${name}`);
  }

  async addToxic(proxy: string, toxic: { name: string; type: string; stream: 'upstream' | 'downstream'; attributes: Record<string, number> }): Promise<void> {
    await this.#call('POST', `/proxies/${proxy}/toxics`, { ...toxic, toxicity: 1 });
  }

  async removeToxic(proxy: string, name: string): Promise<void> {
    await this.#call('DELETE', `/proxies/${proxy}/toxics/${name}`);
  }

  async toxics(proxy: string): Promise<{ name: string; type: string }[]> {
    return (await this.#call('GET', `/proxies/${proxy}/toxics`)) as { name: string; type: string }[];
  }
}
