import { LabError } from './lab-error.js';
import { runChecked } from './run-command.js';

/** An IPv4 network: the address as a 32-bit unsigned number, masked, and its prefix length. */
export interface Ipv4Network {
  network: number;
  prefixLength: number;
}

export function parseIpv4(address: string): number {
  const parts = address.split('.');
  const octets = parts.map((part) => (/^\d{1,3}$/.test(part) ? Number(part) : Number.NaN));
  if (octets.length !== 4 || octets.some((octet) => !(octet >= 0 && octet <= 255))) {
    throw new LabError('Not an IPv4 address.', { address });
  }
  return octets.reduce((value, octet) => value * 256 + octet, 0);
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

function maskOf(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

/** Parses "a.b.c.d/n" or a bare address (a /32). */
export function parseCidr(cidr: string): Ipv4Network {
  const [address = '', prefix = '32'] = cidr.split('/');
  const prefixLength = /^\d{1,2}$/.test(prefix) ? Number(prefix) : Number.NaN;
  if (!(prefixLength >= 0 && prefixLength <= 32)) throw new LabError('Not an IPv4 CIDR.', { cidr });
  return { network: (parseIpv4(address) & maskOf(prefixLength)) >>> 0, prefixLength };
}

export function networksOverlap(a: Ipv4Network, b: Ipv4Network): boolean {
  const shorter = Math.min(a.prefixLength, b.prefixLength);
  const mask = maskOf(shorter);
  return ((a.network & mask) >>> 0) === ((b.network & mask) >>> 0);
}

interface IpAddrEntry {
  ifname: string;
  addr_info?: { local: string; prefixlen: number }[];
}

interface IpRouteEntry {
  dst: string;
  dev?: string;
  table?: string;
}

/** Host facts that would make using `range` unsafe: addresses in it, or routes into it. */
export function findConflicts(range: Ipv4Network, addrs: IpAddrEntry[], routes: IpRouteEntry[]): string[] {
  const conflicts: string[] = [];
  for (const link of addrs) {
    for (const info of link.addr_info ?? []) {
      const cidr = `${info.local}/${info.prefixlen}`;
      if (networksOverlap(range, parseCidr(cidr))) conflicts.push(`address ${cidr} on ${link.ifname}`);
    }
  }
  // The default route covers everything by definition; it is why the VMs get no route at all.
  for (const route of routes.filter((entry) => entry.dst !== 'default')) {
    if (networksOverlap(range, parseCidr(route.dst))) {
      conflicts.push(`route ${route.dst} via ${route.dev ?? '?'} in table ${route.table ?? 'main'}`);
    }
  }
  return conflicts;
}

/**
 * Refuses a range the host already uses: lab traffic there could reach a real network (this
 * sandbox's uplink is 192.0.2.0/24). Run after leftovers of earlier runs are removed.
 */
export async function assertRangeUnused(subnet: string): Promise<void> {
  const range = parseCidr(subnet);
  const addrs = JSON.parse(await runChecked('ip', ['-j', '-4', 'addr', 'show'])) as IpAddrEntry[];
  const routes = JSON.parse(await runChecked('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])) as IpRouteEntry[];
  const conflicts = findConflicts(range, addrs, routes);
  if (conflicts.length > 0) {
    throw new LabError('The lab address range is already in use on this host.', { subnet, conflicts });
  }
}
