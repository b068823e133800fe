import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import type { Config } from './config.js';
import { AppError } from './errors.js';

/**
 * Where the service must never send a request, whatever a config or a catalog says: the cloud
 * metadata service and other link-local hosts (169.254.169.254 hands out instance credentials),
 * "this host" (0.0.0.0, ::), multicast and broadcast. Loopback and private ranges stay allowed:
 * Keystone, Tacker and webhook receivers legitimately live there.
 */
const FORBIDDEN = new BlockList();
FORBIDDEN.addSubnet('169.254.0.0', 16, 'ipv4');
FORBIDDEN.addSubnet('0.0.0.0', 8, 'ipv4');
FORBIDDEN.addSubnet('224.0.0.0', 4, 'ipv4');
FORBIDDEN.addAddress('255.255.255.255', 'ipv4');
FORBIDDEN.addSubnet('fe80::', 10, 'ipv6');
FORBIDDEN.addAddress('::', 'ipv6');
FORBIDDEN.addSubnet('ff00::', 8, 'ipv6');
// AWS's IPv6 metadata address; other clouds use the IPv4 link-local one above.
FORBIDDEN.addAddress('fd00:ec2::254', 'ipv6');

/** `::ffff:169.254.169.254` is the IPv4 address in disguise: judge the IPv4 part. */
function isForbiddenAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined) return FORBIDDEN.check(mapped, 'ipv4');
  return FORBIDDEN.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
}

export type AddressLookup = (host: string) => Promise<string[]>;

const systemLookup: AddressLookup = async (host) => (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);

function refused(what: string, url: string, reason: string): AppError {
  return new AppError('INVALID_CONFIG', `${what} ${url} is refused: ${reason}.`, { details: { what, reason } });
}

/** Throws INVALID_CONFIG unless `url` is http(s), carries no credentials and resolves only to allowed addresses. */
export async function checkOutboundUrl(raw: string, what: string, resolve: AddressLookup = systemLookup): Promise<void> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refused(what, '(unparsable)', 'it is not a URL');
  }
  const shown = `${url.protocol}//${url.host}`;
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refused(what, shown, 'only http and https are fetched');
  if (url.username !== '' || url.password !== '') throw refused(what, shown, 'credentials belong in their secret files, never in a URL');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: string[];
  try {
    addresses = isIP(host) === 0 ? await resolve(host) : [host];
  } catch (cause) {
    throw new AppError('INVALID_CONFIG', `${what} ${shown} does not resolve.`, { cause, details: { what } });
  }
  const forbidden = addresses.find(isForbiddenAddress);
  if (forbidden !== undefined) throw refused(what, shown, `it resolves to ${forbidden}, a link-local, multicast or unspecified address`);
}

/** Every URL of the config that the service itself calls, with what it is for. */
export function configuredOutboundUrls(config: Config): Array<{ url: string; what: string }> {
  const urls: Array<{ url: string; what: string }> = [];
  if (config.notify.webhook !== undefined) urls.push({ url: config.notify.webhook.url, what: 'notify.webhook.url' });
  if (config.openstack !== undefined) {
    urls.push({ url: config.openstack.authUrl, what: 'openstack.authUrl' });
    for (const [service, url] of Object.entries(config.openstack.endpointOverrides)) urls.push({ url, what: `openstack.endpointOverrides.${service}` });
  }
  for (const auth of [config.tacker?.callbackAuth, config.tacker?.callbackAuthByApi.v1, config.tacker?.callbackAuthByApi.v2]) {
    if (auth?.kind === 'oauth2-introspection') urls.push({ url: auth.introspectionUrl, what: 'tacker callback introspectionUrl' });
  }
  return urls;
}

/** At start: a config that points the service at the metadata service (or worse) is refused before anything is sent. */
export async function checkConfiguredUrls(config: Config, resolve: AddressLookup = systemLookup): Promise<void> {
  for (const { url, what } of configuredOutboundUrls(config)) await checkOutboundUrl(url, what, resolve);
}
