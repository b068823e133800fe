import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import type { InjectionSpecInput } from '../../src/injection-spec.js';
import type { JobView } from '../../src/injection/job-view.js';
import { buildStandInSidecarDeb, type StandInDeb } from '../support/istio-sidecar-package/build-stand-in-sidecar-deb.js';
import { startLab, type Lab, type TestVm } from '../support/lab/lab.js';
import { agentLogs, rewrittenByPackageTools, snapshotTree, treeDiff } from '../support/lab/vm-tree.js';
import { ServiceProcess } from '../support/service-process.js';
import { TEST_TOKEN_MARKER } from '../support/test-credentials.js';
import { runVmsi } from '../support/vmsi-cli.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

/**
 * Issue 3 end to end: the real service process, real OpenSSH and systemd in lab VMs, the stand-in
 * sidecar package, the file registry and a signed webhook receiver.
 */
describe('SSH injection jobs, end to end', function () {
  this.timeout(300_000);
  let lab: Lab;
  let deb: StandInDeb;
  let packageUrl: string;
  const vms: TestVm[] = [];
  const secret = randomBytes(32);
  const receiver = new WebhookReceiver(secret);
  let service: ServiceProcess;

  before(async function () {
    lab = await startLab();
    deb = await buildStandInSidecarDeb(path.join(lab.workDir, 'deb'));
    packageUrl = lab.publishFile(deb.path, 'istio-sidecar.deb');
    await receiver.start();
    service = new ServiceProcess({ privateKeyPath: lab.clientKey.privateKeyPath, webhook: { url: receiver.url, secret, deadline: '60s' }, connectDeadline: '40s' });
    await service.start();
  });
  after(async function () {
    await service?.remove();
    await receiver.stop();
    await Promise.all(vms.map((vm) => vm.stop()));
    await lab?.close();
  });

  async function bootVm(options: Parameters<Lab['startVm']>[0] = {}): Promise<TestVm> {
    const vm = await lab.startVm(options);
    vms.push(vm);
    return vm;
  }

  function specFor(address: string, overrides: Partial<InjectionSpecInput['vm']> = {}): InjectionSpecInput {
    return {
      vm: { name: `vm-${address}`, address, ssh: { user: 'vmadmin', privateKeyRef: { secret: 'lab-key' }, hostKey: { policy: 'accept-new' } }, ...overrides },
      mesh: { namespace: 'vm-ns', workloadGroup: 'vm-app', serviceAccount: 'vm-sa', labels: { app: 'vm-app' }, gateway: { ip: lab.bridgeAddress } },
      package: { source: 'mirror', url: packageUrl, sha256: deb.sha256 },
      delivery: { method: 'ssh', readyTimeout: '60s' },
    };
  }

  async function submit(route: '/v1/injections' | '/v1/removals', spec: InjectionSpecInput): Promise<JobView> {
    const { status, body } = await service.request<JobView>('POST', route, spec);
    expect(status, JSON.stringify(body)).to.equal(202);
    return body;
  }

  async function expectSidecarRunning(vm: TestVm): Promise<void> {
    const out = async (argv: string[]): Promise<string> => (await vm.run(argv)).stdout.trim();
    expect(await out(['systemctl', 'is-active', 'istio'])).to.equal('active');
    expect(await out(['systemctl', 'is-enabled', 'istio'])).to.equal('enabled');
    expect(await out(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://localhost:15021/healthz/ready'])).to.equal('200');
  }

  it('injects a fresh VM through vmsi inject --wait, registers it and signs the webhook', async function () {
    const vm = await bootVm();
    const specFile = path.join(lab.workDir, 'inject-spec.yaml');
    writeFileSync(specFile, stringify(specFor(vm.address)));
    const result = await runVmsi(['inject', '--spec', specFile, '--wait', '--url', service.url, '--token-file', path.join(service.dataDir, 'api-token')], { timeoutMs: 240_000 });
    expect(result.code, result.stdout + result.stderr).to.equal(0);
    for (const step of ['resolve', 'credentials', 'deliver', 'verify', 'register', 'notify']) expect(result.stdout).to.match(new RegExp(`✓ ${step}`));
    expect(result.stdout).not.to.include(TEST_TOKEN_MARKER);
    await expectSidecarRunning(vm);
    expect(readdirSync(path.join(service.dataDir, 'registry', 'vm-ns'))).to.include(`workloadentry-vm-app-${vm.address}.yaml`);
    const events = await receiver.waitFor((all) => all.some((event) => event.data.address === vm.address));
    const event = events.find((candidate) => candidate.data.address === vm.address);
    expect(event?.type).to.equal('dev.vmsi.injection.succeeded');
    expect(receiver.deliveries.filter((delivery) => delivery.event.data.address === vm.address).every((delivery) => delivery.signatureValid)).to.equal(true);
  });

  it('injects five VMs at once, each job logging only its own VM', async function () {
    const five = await Promise.all([1, 2, 3, 4, 5].map(() => bootVm()));
    const jobs = await Promise.all(five.map((vm) => submit('/v1/injections', specFor(vm.address))));
    const finished = await Promise.all(jobs.map((job) => service.waitForJob(job.id)));
    for (const [index, job] of finished.entries()) {
      expect(job.state, JSON.stringify(job.lastError)).to.equal('succeeded');
      const others = five.filter((_, other) => other !== index).map((vm) => vm.address);
      const log = (await service.request<JobView>('GET', `/v1/injections/${job.id}`)).body.log ?? [];
      expect(log.join('\n')).to.include(`connected to ${five[index]?.address}`);
      for (const address of others) expect(log.join('\n')).not.to.include(`connected to ${address},`);
    }
    await Promise.all(five.map(expectSidecarRunning));
  });

  it('fails closed with SSH_HOST_KEY_MISMATCH when the host key is not the pinned one, running nothing', async function () {
    const [vm, other] = await Promise.all([bootVm(), bootVm()]);
    const wrongKey = await other.hostPublicKey();
    const job = await submit('/v1/injections', specFor(vm.address, { ssh: { user: 'vmadmin', privateKeyRef: { secret: 'lab-key' }, hostKey: { policy: 'pinned', publicKeys: [wrongKey] } } }));
    const finished = await service.waitForJob(job.id);
    expect(finished.state).to.equal('failed');
    expect(finished.lastError?.code).to.equal('SSH_HOST_KEY_MISMATCH');
    expect((await vm.run(['test', '-e', '/var/lib/vm-sidecar-injector'])).code).to.not.equal(0);
    // The failure is announced once, signed, and its delivery is part of the job's record.
    const events = await receiver.waitFor((all) => all.some((event) => event.data.jobId === job.id));
    const failure = events.find((event) => event.data.jobId === job.id);
    expect(failure?.type).to.equal('dev.vmsi.injection.failed');
    expect(failure?.data.failure?.code).to.equal('SSH_HOST_KEY_MISMATCH');
    const announced = await service.waitForJob(job.id, (view) => view.notifications?.[0]?.state === 'succeeded');
    expect(announced.notifications?.[0]?.report).to.deep.include({ delivered: true, eventId: `${job.id}.failed` });
    expect((await vm.run(['test', '-e', '/run/vm-sidecar-injector'])).code).to.not.equal(0);
  });

  it('fails closed when the host key changed since the first connection, running nothing on the VM', async function () {
    const vm = await bootVm();
    expect((await service.waitForJob((await submit('/v1/injections', specFor(vm.address))).id)).state).to.equal('succeeded');
    const stateBefore = (await vm.run(['stat', '-c', '%Y', '/var/lib/vm-sidecar-injector/state.env'])).stdout;
    // As if the VM were rebuilt behind the same address, or someone sat in the middle.
    const rekey = await vm.run(['sh', '-c', 'rm -f /etc/ssh/ssh_host_* && ssh-keygen -A -q && systemctl restart ssh']);
    expect(rekey.code, rekey.stderr).to.equal(0);
    const second = await service.waitForJob((await submit('/v1/injections', specFor(vm.address))).id);
    expect(second.state).to.equal('failed');
    expect(second.lastError?.code).to.equal('SSH_HOST_KEY_MISMATCH');
    expect(second.steps.find((step) => step.name === 'deliver')?.attempts).to.equal(1);
    expect((second.log ?? []).some((line) => line.includes('vmsi:'))).to.equal(false);
    expect((await vm.run(['stat', '-c', '%Y', '/var/lib/vm-sidecar-injector/state.env'])).stdout).to.equal(stateBefore);
  });

  it('retries while sshd starts 20 s late, then succeeds', async function () {
    const vm = await bootVm({ sshStartDelaySeconds: 20 });
    const finished = await service.waitForJob((await submit('/v1/injections', specFor(vm.address))).id);
    expect(finished.state, JSON.stringify(finished.lastError)).to.equal('succeeded');
    expect((finished.log ?? []).some((line) => line.includes('connect attempt'))).to.equal(true);
    await expectSidecarRunning(vm);
  });

  it('ends failed_temp with a clear reason when the VM never comes up', async function () {
    const address = lab.reserveAddress();
    const started = Date.now();
    const finished = await service.waitForJob((await submit('/v1/injections', specFor(address))).id);
    expect(finished.state).to.equal('failed_temp');
    expect(finished.lastError?.code).to.equal('SSH_CONNECT_FAILED');
    expect(finished.lastError?.message).to.include(address);
    expect(Date.now() - started).to.be.greaterThan(35_000);
  });

  it('survives a connection dropped mid-script: retried, then succeeded', async function () {
    const vm = await bootVm();
    const hold = lab.packages.hold();
    const job = await submit('/v1/injections', specFor(vm.address));
    await hold.arrived();
    // The install is now waiting on its package download: cut every SSH session and sshd itself.
    await vm.stopSshd();
    await vm.run(['pkill', '-KILL', '-f', 'sshd: vmadmin']);
    hold.release();
    await vm.startSshd();
    const finished = await service.waitForJob(job.id);
    expect(finished.state, JSON.stringify(finished.steps)).to.equal('succeeded');
    expect(finished.steps.find((step) => step.name === 'deliver')?.attempts).to.be.greaterThan(1);
    await expectSidecarRunning(vm);
  });

  it('resumes a job after kill -9 of the service and announces the outcome once', async function () {
    const vm = await bootVm();
    const hold = lab.packages.hold();
    const job = await submit('/v1/injections', specFor(vm.address));
    await hold.arrived();
    await service.kill();
    hold.release();
    await service.start();
    const finished = await service.waitForJob(job.id);
    expect(finished.state, JSON.stringify(finished.steps)).to.equal('succeeded');
    await expectSidecarRunning(vm);
    const events = await receiver.waitFor((all) => all.some((event) => event.data.jobId === job.id));
    expect(events.filter((event) => event.data.jobId === job.id).map((event) => event.type)).to.deep.equal(['dev.vmsi.injection.succeeded']);
  });

  it('removes an injected VM and leaves it as it was before the injection', async function () {
    const vm = await bootVm();
    const before = await snapshotTree(vm);
    expect((await service.waitForJob((await submit('/v1/injections', specFor(vm.address))).id)).state).to.equal('succeeded');
    const removal = await service.waitForJob((await submit('/v1/removals', specFor(vm.address))).id);
    expect(removal.state, JSON.stringify(removal.steps)).to.equal('succeeded');
    const ignore = new Set([...rewrittenByPackageTools, ...agentLogs]);
    expect(treeDiff(before, await snapshotTree(vm), { ignore })).to.deep.equal([]);
    expect(existsSync(path.join(service.dataDir, 'registry', 'vm-ns', `workloadentry-vm-app-${vm.address}.yaml`))).to.equal(false);
    const events = await receiver.waitFor((all) => all.some((event) => event.data.jobId === removal.id));
    expect(events.find((event) => event.data.jobId === removal.id)?.type).to.equal('dev.vmsi.injection.removed');
  });

  it('deregisters a VM that is already gone, and says so', async function () {
    const vm = await bootVm();
    expect((await service.waitForJob((await submit('/v1/injections', specFor(vm.address))).id)).state).to.equal('succeeded');
    await vm.stop();
    const removal = await service.waitForJob((await submit('/v1/removals', specFor(vm.address))).id);
    expect(removal.state, JSON.stringify(removal.steps)).to.equal('succeeded');
    expect(removal.steps.find((step) => step.name === 'undo')?.output).to.deep.include({ vm: 'unreachable' });
    expect(existsSync(path.join(service.dataDir, 'registry', 'vm-ns', `workloadentry-vm-app-${vm.address}.yaml`))).to.equal(false);
  });
});

describe('SSH injection jobs with the webhook receiver down', function () {
  this.timeout(180_000);
  let lab: Lab;
  let service: ServiceProcess;
  let vm: TestVm | undefined;

  before(async function () {
    lab = await startLab();
  });
  after(async function () {
    await service?.remove();
    await vm?.stop();
    await lab?.close();
  });

  it('still succeeds for the VM and shows the undelivered notification', async function () {
    const secret = randomBytes(32);
    const receiver = new WebhookReceiver(secret);
    await receiver.start();
    const url = receiver.url;
    await receiver.stop();
    service = new ServiceProcess({ privateKeyPath: lab.clientKey.privateKeyPath, webhook: { url, secret, deadline: '5s' } });
    await service.start();
    const deb = await buildStandInSidecarDeb(path.join(lab.workDir, 'deb'));
    vm = await lab.startVm();
    const spec: InjectionSpecInput = {
      vm: { name: 'webhook-down', address: vm.address, ssh: { user: 'vmadmin', privateKeyRef: { secret: 'lab-key' } } },
      mesh: { namespace: 'vm-ns', workloadGroup: 'vm-app', serviceAccount: 'vm-sa', gateway: { ip: lab.bridgeAddress } },
      package: { source: 'mirror', url: lab.publishFile(deb.path, 'istio-sidecar.deb'), sha256: deb.sha256 },
    };
    const { body: job } = await service.request<JobView>('POST', '/v1/injections', spec);
    const finished = await service.waitForJob(job.id);
    expect(finished.state).to.equal('succeeded');
    const notify = finished.steps.find((step) => step.name === 'notify')?.output as { delivered: boolean; attempts: number; gaveUp?: string };
    expect(notify.delivered).to.equal(false);
    expect(notify.attempts).to.be.greaterThan(1);
    expect(notify.gaveUp).to.equal('deadline');
  });
});
