import { BlockList, isIP } from 'node:net';

// proxy.allowedUpstreams: where a replica URL read from ZooKeeper may point. Membership payloads come from
// whoever can write under the root; this is the router's own line of defence, so a forged or mistaken
// znode never receives users' requests (and their Superset session cookies). Pure: no I/O, no DNS — a
// hostname is matched by name, an IP literal by subnet.

export interface AllowList {
  /** The rules as configured, for logs and /replicas. */
  readonly rules: readonly string[];
  readonly subnets: BlockList;
  /** Exact lower-case host names, and suffixes (".example.com") from "*.example.com" patterns. */
  readonly hosts: ReadonlySet<string>;
  readonly suffixes: readonly string[];
}

const HOST_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Why `rule` is not a CIDR, an IP or a host pattern; undefined when it is one. */
export function ruleProblem(rule: string): string | undefined {
  const r = rule.trim().toLowerCase();
  const slash = r.indexOf('/');
  if (slash >= 0) {
    const ip = r.slice(0, slash);
    const bits = r.slice(slash + 1);
    const family = isIP(ip);
    if (family === 0 || !/^\d{1,3}$/.test(bits) || Number(bits) > (family === 4 ? 32 : 128)) return `"${rule}" is not a valid CIDR`;
    return undefined;
  }
  if (isIP(r) !== 0) return undefined;
  const host = r.startsWith('*.') ? r.slice(2) : r;
  if (host.split('.').every((l) => HOST_LABEL.test(l))) return undefined;
  return `"${rule}" is not a CIDR, an IP address or a host pattern (host.example.com, *.example.com)`;
}

export function parseAllowList(rules: readonly string[]): AllowList {
  const subnets = new BlockList();
  const hosts = new Set<string>();
  const suffixes: string[] = [];
  for (const rule of rules) {
    const problem = ruleProblem(rule);
    if (problem !== undefined) throw new TypeError(problem);
    const r = rule.trim().toLowerCase();
    const slash = r.indexOf('/');
    if (slash >= 0) {
      const ip = r.slice(0, slash);
      subnets.addSubnet(ip, Number(r.slice(slash + 1)), isIP(ip) === 4 ? 'ipv4' : 'ipv6');
    } else if (isIP(r) !== 0) {
      subnets.addAddress(r, isIP(r) === 4 ? 'ipv4' : 'ipv6');
    } else if (r.startsWith('*.')) {
      suffixes.push(r.slice(1));
    } else {
      hosts.add(r);
    }
  }
  return { rules: [...rules], subnets, hosts, suffixes };
}

/** True when the URL's host is inside the allow list. Unparseable URLs are never allowed. */
export function isAllowedUpstream(allow: AllowList, url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return false;
  }
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const family = isIP(host);
  if (family !== 0) return allow.subnets.check(host, family === 4 ? 'ipv4' : 'ipv6');
  if (host.endsWith('.')) host = host.slice(0, -1); // "a.example.com." is the same name
  if (allow.hosts.has(host)) return true;
  return allow.suffixes.some((s) => host.endsWith(s) && host.length > s.length);
}

/** Splits replicas into the ones the router may send to and the ones it must not. */
export function partitionAllowed<R extends { readonly url: string }>(allow: AllowList | undefined, replicas: readonly R[]): { allowed: R[]; refused: R[] } {
  if (allow === undefined) return { allowed: [...replicas], refused: [] };
  const allowed: R[] = [];
  const refused: R[] = [];
  for (const r of replicas) (isAllowedUpstream(allow, r.url) ? allowed : refused).push(r);
  return { allowed, refused };
}
