import { isIP } from 'node:net';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { listPortAddresses } from './neutron-port-addresses.js';
import { OPENSTACK_ERROR_CODES } from './openstack-errors.js';
import type { JsonReply, OpenStackSession } from './openstack-session.js';
import type { ServerAddress, ServerDirectory, ServerInfo } from './server-directory.js';

/**
 * Pinned rather than `latest`, so a newer Nova cannot change the answer's shape under us. 2.79 is
 * the maximum of Train (2019), so every Nova a supported Tacker runs with serves it; it includes
 * 2.69, under which a server in an unreachable cell comes back as status UNKNOWN with most keys
 * missing (a state to wait out) instead of an error. The fields read here (addresses with
 * OS-EXT-IPS:type, metadata, key_name, status, fault) are the same in every microversion since 2.1.
 */
export const NOVA_MICROVERSION = '2.79';

const novaAddressSchema = z.object({
  addr: z.string(),
  version: z.number().optional(),
  'OS-EXT-IPS:type': z.string().optional(),
});

const novaServerSchema = z.object({
  server: z.object({
    id: z.string(),
    name: z.string().optional(),
    status: z.string(),
    addresses: z.record(z.string(), z.array(novaAddressSchema)).optional(),
    metadata: z.record(z.string(), z.string()).optional(),
    key_name: z.string().nullable().optional(),
    fault: z.object({ message: z.string().optional() }).optional(),
  }),
});

/**
 * Statuses in which empty addresses say nothing: Nova hides them while the VM is building, and a
 * down cell's minimal answer has none. Asking Neutron then would only add load to every poll.
 */
const SKIP_NEUTRON_STATUSES = new Set(['BUILD', 'UNKNOWN']);

export interface NovaServerDirectoryOptions {
  session: OpenStackSession;
  logger?: Logger;
}

export class NovaServerDirectory implements ServerDirectory {
  private readonly session: OpenStackSession;
  private readonly logger: Logger | undefined;

  constructor(options: NovaServerDirectoryOptions) {
    this.session = options.session;
    this.logger = options.logger;
  }

  async getServer(serverId: string, options: { signal?: AbortSignal } = {}): Promise<ServerInfo | undefined> {
    if (serverId.length === 0) throw new AppError('INVALID_REQUEST', 'A server id is required.');
    const reply = await this.session.getJson('compute', `/servers/${encodeURIComponent(serverId)}`, {
      headers: { 'openstack-api-version': `compute ${NOVA_MICROVERSION}` },
      ...options,
    });
    if (reply.status === 404) return notFound(reply, serverId);
    const server = parseServer(reply.body, serverId);
    // Nova hides addresses of building servers, and some clouds hide them by policy or a stale network cache.
    if (server.addresses.length > 0 || SKIP_NEUTRON_STATUSES.has(server.status)) return server;
    this.logger?.debug('Nova lists no addresses for the server; reading its ports from Neutron.', { serverId, status: server.status });
    return { ...server, addresses: await listPortAddresses(this.session, serverId, options) };
  }
}

/** Nova's own 404 names the fault `itemNotFound`; any other 404 means the compute URL is wrong, not that the server is gone. */
function notFound(reply: JsonReply, serverId: string): undefined {
  const body = reply.body as Record<string, unknown> | null;
  if (body !== null && typeof body === 'object' && 'itemNotFound' in body) return undefined;
  throw new AppError(OPENSTACK_ERROR_CODES.misconfigured, 'Nova answered GET /servers/{id} with a 404 that is not Nova\'s; check the compute endpoint.', {
    details: { service: 'Nova', serverId, status: 404 },
  });
}

export function parseServer(body: unknown, serverId: string): ServerInfo {
  const parsed = novaServerSchema.safeParse(body);
  if (!parsed.success) {
    throw new AppError(OPENSTACK_ERROR_CODES.unexpectedAnswer, `Nova answered GET /servers/${serverId} with a body that is not a server.`, {
      details: { service: 'Nova', serverId },
      cause: parsed.error,
    });
  }
  const server = parsed.data.server;
  return {
    id: server.id,
    name: server.name ?? '',
    status: server.status,
    addresses: toAddresses(server.addresses ?? {}),
    metadata: server.metadata ?? {},
    ...(typeof server.key_name === 'string' ? { keyName: server.key_name } : {}),
    ...(server.fault?.message === undefined ? {} : { fault: server.fault.message }),
  };
}

/** Nova groups by network name; the address itself decides the version (it cannot disagree with it). */
function toAddresses(addresses: Record<string, Array<z.infer<typeof novaAddressSchema>>>): ServerAddress[] {
  const out: ServerAddress[] = [];
  for (const [network, entries] of Object.entries(addresses)) {
    for (const entry of entries) {
      const version = isIP(entry.addr);
      if (version === 0) continue;
      out.push({ network, address: entry.addr, version: version as 4 | 6, type: entry['OS-EXT-IPS:type'] === 'floating' ? 'floating' : 'fixed' });
    }
  }
  return out;
}
