import { isIP } from 'node:net';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { OPENSTACK_ERROR_CODES } from './openstack-errors.js';
import type { GetJsonOptions, JsonReply, OpenStackSession } from './openstack-session.js';
import type { ServerAddress } from './server-directory.js';

/**
 * A server's addresses as Neutron knows them, in the shape Nova would have reported: fixed IPs of
 * the ports bound to the server, grouped by network name, and the floating IPs associated with
 * those ports under the same network (where Nova lists them too).
 */

const portsSchema = z.object({
  ports: z.array(
    z.object({
      id: z.string(),
      network_id: z.string(),
      fixed_ips: z.array(z.object({ ip_address: z.string() })).default([]),
    }),
  ),
});

const networkSchema = z.object({ network: z.object({ id: z.string(), name: z.string().optional() }) });

const floatingIpsSchema = z.object({
  floatingips: z.array(z.object({ floating_ip_address: z.string().nullable(), port_id: z.string().nullable().optional() })),
});

type Port = z.infer<typeof portsSchema>['ports'][number];

export async function listPortAddresses(session: OpenStackSession, serverId: string, options: Pick<GetJsonOptions, 'signal'> = {}): Promise<ServerAddress[]> {
  const portsReply = await session.getJson('network', '/v2.0/ports', { query: { device_id: serverId }, ...options });
  const ports = parse(portsSchema, listed(portsReply, 'GET /v2.0/ports'), 'GET /v2.0/ports').ports;
  if (ports.length === 0) return [];
  const [names, floating] = await Promise.all([networkNames(session, ports, options), floatingByPort(session, ports, options)]);
  return ports.flatMap((port) => {
    const network = names.get(port.network_id) ?? port.network_id;
    const fixed = port.fixed_ips.map((ip) => toAddress(network, ip.ip_address, 'fixed'));
    const floats = (floating.get(port.id) ?? []).map((ip) => toAddress(network, ip, 'floating'));
    return [...fixed, ...floats].filter((address): address is ServerAddress => address !== undefined);
  });
}

/** Network name by id. A network the project cannot see (404) keeps its id as its name, rather than failing the lookup. */
async function networkNames(session: OpenStackSession, ports: Port[], options: Pick<GetJsonOptions, 'signal'>): Promise<Map<string, string>> {
  const ids = [...new Set(ports.map((port) => port.network_id))];
  const entries = await Promise.all(
    ids.map(async (id): Promise<[string, string]> => {
      const operation = 'GET /v2.0/networks/{id}';
      const reply = await session.getJson('network', `/v2.0/networks/${encodeURIComponent(id)}`, options);
      if (reply.status === 404) return [id, id];
      const name = parse(networkSchema, reply.body, operation).network.name;
      return [id, name === undefined || name === '' ? id : name];
    }),
  );
  return new Map(entries);
}

async function floatingByPort(session: OpenStackSession, ports: Port[], options: Pick<GetJsonOptions, 'signal'>): Promise<Map<string, string[]>> {
  const operation = 'GET /v2.0/floatingips';
  const reply = await session.getJson('network', '/v2.0/floatingips', { query: { port_id: ports.map((port) => port.id) }, ...options });
  const byPort = new Map<string, string[]>();
  for (const floating of parse(floatingIpsSchema, listed(reply, operation), operation).floatingips) {
    if (floating.port_id === null || floating.port_id === undefined || floating.floating_ip_address === null) continue;
    byPort.set(floating.port_id, [...(byPort.get(floating.port_id) ?? []), floating.floating_ip_address]);
  }
  return byPort;
}

function toAddress(network: string, address: string, type: ServerAddress['type']): ServerAddress | undefined {
  const version = isIP(address);
  return version === 0 ? undefined : { network, address, version: version as 4 | 6, type };
}

/** A list never answers 404; one that does means the network endpoint is wrong. */
function listed(reply: JsonReply, operation: string): unknown {
  if (reply.status !== 404) return reply.body;
  throw new AppError(OPENSTACK_ERROR_CODES.misconfigured, `Neutron answered ${operation} with 404; check the network endpoint.`, {
    details: { service: 'Neutron', operation, status: 404 },
  });
}

function parse<T>(schema: z.ZodType<T>, body: unknown, operation: string): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  throw new AppError(OPENSTACK_ERROR_CODES.unexpectedAnswer, `Neutron answered ${operation} with a body the Networking API does not define.`, {
    details: { service: 'Neutron', operation },
    cause: parsed.error,
  });
}
