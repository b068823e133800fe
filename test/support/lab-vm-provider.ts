import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import type { Lab, TestVm } from './lab/lab.js';
import type { VmProvider } from './tacker-sim/tacker-simulator.js';

/** Tacker's servers as real lab VMs: each create boots one, each destroy stops it; `vms` holds the running ones by server id. */
export function labVmProvider(lab: Lab, vms: Map<string, TestVm>, network = 'vm-net'): VmProvider {
  return {
    create: async () => {
      const vm = await lab.startVm();
      const serverId = randomUUID();
      vms.set(serverId, vm);
      return { serverId, address: vm.address, network };
    },
    destroy: async (serverId) => {
      await vms.get(serverId)?.stop();
      vms.delete(serverId);
    },
  };
}

/** A loopback port free right now, for a service whose own URL must be in its config before it starts. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
