import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Lab, TestVm } from '../../test/support/lab/lab.js';
import { loadInstallScript } from '../../src/render/injection-bundle.js';

/** The fleet's VMs, booted once and reset between methods (booting is not what is measured). */
export interface FleetVm {
  vm: TestVm;
  name: string;
  address: string;
  hostPublicKey: string;
}

// Boots overlap, but not all at once: 50 systemd boots at the same instant time out on 2 cores.
const BOOT_BATCH = 8;
const RESET_SCRIPT = '/var/tmp/vmsi-bench-reset/install-sidecar.sh';
const RESET_TIMEOUT_MS = 120_000;

export async function bootFleet(lab: Lab, count: number): Promise<FleetVm[]> {
  const fleet: FleetVm[] = [];
  for (let first = 0; first < count; first += BOOT_BATCH) {
    const batch = Array.from({ length: Math.min(BOOT_BATCH, count - first) }, (_, offset) => `fleet${first + offset + 1}`);
    const booted = await Promise.all(batch.map((name) => lab.startVm({ name })));
    for (const vm of booted) {
      // The install script's own `remove` is the reset: it undoes the whole recorded install.
      const scriptPath = path.join(vm.rootDir, RESET_SCRIPT);
      await mkdir(path.dirname(scriptPath), { recursive: true, mode: 0o700 });
      await writeFile(scriptPath, loadInstallScript(), { mode: 0o700 });
      fleet.push({ vm, name: vm.name, address: vm.address, hostPublicKey: await vm.hostPublicKey() });
    }
  }
  return fleet;
}

/** Takes the sidecar off again, so the next method does the full install; fails if a VM still has it. */
export async function resetFleet(fleet: readonly FleetVm[]): Promise<void> {
  const script = `bash ${RESET_SCRIPT} remove >/dev/null; rm -rf -- /run/vmsi-floor /run/vmsi-ansible; ! dpkg-query -W istio-sidecar >/dev/null 2>&1 && ! systemctl is-active --quiet istio`;
  await Promise.all(
    fleet.map(async ({ vm, name }) => {
      const result = await vm.run(['bash', '-c', script], { timeoutMs: RESET_TIMEOUT_MS });
      if (result.code !== 0) throw new Error(`resetting ${name} failed (${result.code}): ${result.stderr.trim()}`);
    }),
  );
}
