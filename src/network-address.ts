import { isIP } from 'node:net';
import { z } from 'zod';

/** IPv6 in its canonical compressed lowercase form, as Go's net.IP.String() prints it for Istio. */
export function canonicalIp(address: string): string {
  if (isIP(address) !== 6) return address;
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

export const ipAddressSchema = z
  .string()
  .refine((value) => isIP(value) !== 0, 'must be an IPv4 or IPv6 address')
  .transform(canonicalIp);

const HOSTNAME = /^(?=.{1,253}$)([A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*\.?$/;

export const hostnameSchema = z.string().regex(HOSTNAME, 'must be a DNS hostname');

export const hostOrIpSchema = z
  .string()
  .refine((value) => isIP(value) !== 0 || HOSTNAME.test(value), 'must be a hostname or an IP address');

/** `host:port` or `[v6]:port`, the form Istio uses for discoveryAddress. */
export const hostPortSchema = z.string().refine((value) => splitHostPort(value) !== undefined, 'must be host:port, e.g. istiod.istio-system.svc:15012');

export function splitHostPort(value: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  if (!match) return undefined;
  const host = match[1] ?? match[2] ?? '';
  const port = Number(match[3]);
  const hostValid = match[1] !== undefined ? isIP(host) === 6 : isIP(host) === 4 || HOSTNAME.test(host);
  return hostValid && port >= 1 && port <= 65535 ? { host, port } : undefined;
}
