import path from 'node:path';
import type { JobView } from '../src/injection/job-view.js';
import { buildStandInSidecarDeb } from '../test/support/istio-sidecar-package/build-stand-in-sidecar-deb.js';
import { startLab } from '../test/support/lab/lab.js';
import { ServiceProcess } from '../test/support/service-process.js';

/**
 * How long one SSH injection takes in a lab VM, step by step (needs root, like the test suite).
 * Runs a few fresh VMs one after the other and prints each step's median.
 */
const RUNS = 3;
const lab = await startLab();
const service = new ServiceProcess({ privateKeyPath: lab.clientKey.privateKeyPath });
try {
  await service.start();
  const deb = await buildStandInSidecarDeb(path.join(lab.workDir, 'deb'));
  const url = lab.publishFile(deb.path, 'istio-sidecar.deb');
  const durations = new Map<string, number[]>();
  for (let run = 0; run < RUNS; run++) {
    const vm = await lab.startVm();
    await vm.waitForSsh();
    const started = Date.now();
    const { body } = await service.request<JobView>('POST', '/v1/injections', {
      vm: { name: `bench-${run}`, address: vm.address, ssh: { user: 'vmadmin', privateKeyRef: { secret: 'lab-key' } } },
      mesh: { namespace: 'vm-ns', workloadGroup: 'vm-app', serviceAccount: 'vm-sa', gateway: { ip: lab.bridgeAddress } },
      package: { source: 'mirror', url, sha256: deb.sha256 },
    });
    const job = await service.waitForJob(body.id);
    if (job.state !== 'succeeded') throw new Error(`injection ${job.id} ended ${job.state}: ${JSON.stringify(job.lastError)}`);
    for (const step of job.steps) durations.set(step.name, [...(durations.get(step.name) ?? []), step.durationMs]);
    durations.set('total (submit to succeeded)', [...(durations.get('total (submit to succeeded)') ?? []), Date.now() - started]);
    await vm.stop();
  }
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
  console.table([...durations].map(([step, values]) => ({ step, 'median ms': median(values), runs: values.join(', ') })));
} finally {
  await service.remove();
  await lab.close();
}
