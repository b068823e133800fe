import { createHash } from 'node:crypto';
import type { SimServer, SimServerStatus } from './cloud-model.js';

/**
 * The CloudModel's servers as Nova's GET /servers/{id} and Neutron's ports, networks and floating
 * IPs show them (compute and networking API references). Ids derived from names are stable UUIDs,
 * so the same network has the same id in every answer.
 */

export function stableUuid(seed: string): string {
  const hex = createHash('sha1').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function macOf(seed: string): string {
  const hex = createHash('sha1').update(`mac:${seed}`).digest('hex');
  return `fa:16:3e:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`;
}

export function networkIdOf(name: string): string {
  return stableUuid(`network:${name}`);
}

function portIdOf(serverId: string, network: string): string {
  return stableUuid(`port:${serverId}:${network}`);
}

const VM_STATE: Record<SimServerStatus, string> = { BUILD: 'building', ACTIVE: 'active', ERROR: 'error', SHUTOFF: 'stopped', DELETED: 'deleted' };

export interface NovaViewOptions {
  /** Nova returns `addresses: {}` in vm_state building; a cloud may hide them in other states too. */
  hideAddresses: boolean;
  computeUrl: string;
}

export function novaServer(server: SimServer, options: NovaViewOptions): Record<string, unknown> {
  const hidden = options.hideAddresses || server.status === 'BUILD';
  const addresses = hidden ? {} : novaAddresses(server);
  return {
    server: {
      id: server.id,
      name: server.name,
      status: server.status,
      tenant_id: server.tenantId,
      user_id: 'c9b1c2a0e4f94e0f8f4d7a6c2b1e0d11',
      created: server.createdAt.replace(/\.\d{3}Z$/, 'Z'),
      updated: server.createdAt.replace(/\.\d{3}Z$/, 'Z'),
      hostId: createHash('sha224').update(`${server.tenantId}:compute-1`).digest('hex'),
      addresses,
      metadata: server.metadata,
      key_name: server.keyName ?? null,
      image: { id: stableUuid('image:debian-12') },
      flavor: { vcpus: 1, ram: 1024, disk: 10, ephemeral: 0, swap: 0, original_name: 'm1.small', extra_specs: {} },
      'OS-EXT-STS:vm_state': VM_STATE[server.status],
      'OS-EXT-STS:task_state': server.status === 'BUILD' ? 'spawning' : null,
      'OS-EXT-STS:power_state': server.status === 'ACTIVE' ? 1 : 0,
      'OS-EXT-AZ:availability_zone': 'nova',
      'os-extended-volumes:volumes_attached': [],
      config_drive: '',
      locked: false,
      locked_reason: null,
      description: null,
      tags: [],
      trusted_image_certificates: null,
      server_groups: [],
      progress: 0,
      accessIPv4: '',
      accessIPv6: '',
      links: [
        { rel: 'self', href: `${options.computeUrl}/servers/${server.id}` },
        { rel: 'bookmark', href: `${options.computeUrl.replace(/\/v2\.1$/, '')}/servers/${server.id}` },
      ],
      ...(server.status === 'ERROR' ? { fault: { code: 500, created: server.createdAt, message: 'No valid host was found. There are not enough hosts available.' } } : {}),
    },
  };
}

function novaAddresses(server: SimServer): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const [network, addresses] of Object.entries(server.networks)) {
    out[network] = addresses.map((address) => ({
      addr: address.addr,
      version: address.version,
      'OS-EXT-IPS:type': address.type,
      'OS-EXT-IPS-MAC:mac_addr': macOf(portIdOf(server.id, network)),
    }));
  }
  return out;
}

export function neutronPorts(servers: SimServer[], deviceIds: string[]): Record<string, unknown>[] {
  return servers
    .filter((server) => deviceIds.includes(server.id))
    .flatMap((server) =>
      Object.entries(server.networks).map(([network, addresses]) => {
        const id = portIdOf(server.id, network);
        return {
          id,
          name: '',
          network_id: networkIdOf(network),
          mac_address: macOf(id),
          admin_state_up: true,
          status: server.status === 'ACTIVE' ? 'ACTIVE' : 'DOWN',
          device_id: server.id,
          device_owner: 'compute:nova',
          project_id: server.tenantId,
          tenant_id: server.tenantId,
          fixed_ips: addresses
            .filter((address) => address.type === 'fixed')
            .map((address) => ({ subnet_id: stableUuid(`subnet:${network}:v${address.version}`), ip_address: address.addr })),
          security_groups: [stableUuid(`secgroup:${server.tenantId}:default`)],
          binding_vnic_type: 'normal',
        };
      }),
    );
}

export function neutronFloatingIps(servers: SimServer[], portIds: string[]): Record<string, unknown>[] {
  return servers.flatMap((server) =>
    Object.entries(server.networks).flatMap(([network, addresses]) => {
      const portId = portIdOf(server.id, network);
      if (!portIds.includes(portId)) return [];
      const fixedV4 = addresses.find((address) => address.type === 'fixed' && address.version === 4)?.addr ?? null;
      return addresses
        .filter((address) => address.type === 'floating')
        .map((address) => ({
          id: stableUuid(`fip:${address.addr}`),
          floating_ip_address: address.addr,
          fixed_ip_address: fixedV4,
          port_id: portId,
          floating_network_id: networkIdOf('public'),
          router_id: stableUuid(`router:${server.tenantId}`),
          status: 'ACTIVE',
          project_id: server.tenantId,
          tenant_id: server.tenantId,
        }));
    }),
  );
}

export function neutronNetwork(name: string, projectId: string): Record<string, unknown> {
  const id = networkIdOf(name);
  return {
    network: {
      id,
      name,
      status: 'ACTIVE',
      admin_state_up: true,
      shared: false,
      'router:external': false,
      mtu: 1450,
      subnets: [stableUuid(`subnet:${name}:v4`), stableUuid(`subnet:${name}:v6`)],
      project_id: projectId,
      tenant_id: projectId,
    },
  };
}
