import { BlockList, isIP } from 'node:net';

/** "10.0.0.0/8", "fd00::/8" or a bare address (one host); undefined when it is neither. */
export function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const v = isIP(address);
  if (v === 0) return undefined;
  const max = v === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > max) return undefined;
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/**
 * The matcher for proxy.trustedProxies, built once: node:net's BlockList does the CIDR arithmetic (IPv4,
 * IPv6, and IPv4-mapped IPv6 peers such as ::ffff:10.0.0.7 on a dual-stack listener). undefined when nobody
 * is trusted, so the server need not look at all.
 */
export function trustedPeers(cidrs: readonly string[]): ((address: string | undefined) => boolean) | undefined {
  if (cidrs.length === 0) return undefined;
  const list = new BlockList();
  for (const c of cidrs) {
    const p = parseCidr(c);
    if (p === undefined) throw new TypeError(`not an IP address or CIDR: ${c}`);
    list.addSubnet(p.address, p.prefix, p.family);
  }
  return (address) => {
    if (address === undefined) return false;
    const v = isIP(address);
    return v !== 0 && list.check(address, v === 4 ? 'ipv4' : 'ipv6');
  };
}
