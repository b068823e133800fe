import { randomUUID } from 'node:crypto';

/**
 * The simulated cloud's servers, shared by the Nova/Neutron simulator (which serves them) and the
 * Tacker simulator (which creates and deletes them during LCM operations). Test VMs from the lab
 * back the servers that must really run; the model only holds what OpenStack would report.
 */
export type SimServerStatus = 'BUILD' | 'ACTIVE' | 'ERROR' | 'SHUTOFF' | 'DELETED';

export interface SimServer {
  id: string;
  name: string;
  status: SimServerStatus;
  /** Network name → addresses, as Nova's `addresses` groups them. */
  networks: Record<string, Array<{ addr: string; version: 4 | 6; type: 'fixed' | 'floating' }>>;
  metadata: Record<string, string>;
  keyName?: string;
  tenantId: string;
  createdAt: string;
}

export type NewSimServer = Omit<SimServer, 'id' | 'createdAt' | 'tenantId'> & { id?: string; tenantId?: string };

export class CloudModel {
  private readonly servers = new Map<string, SimServer>();

  addServer(server: NewSimServer): SimServer {
    const stored: SimServer = { ...server, id: server.id ?? randomUUID(), tenantId: server.tenantId ?? 'tenant-a', createdAt: new Date().toISOString() };
    this.servers.set(stored.id, stored);
    return stored;
  }

  getServer(id: string): SimServer | undefined {
    return this.servers.get(id);
  }

  listServers(): SimServer[] {
    return [...this.servers.values()];
  }

  setStatus(id: string, status: SimServerStatus): void {
    const server = this.servers.get(id);
    if (server !== undefined) server.status = status;
  }

  removeServer(id: string): boolean {
    return this.servers.delete(id);
  }
}
