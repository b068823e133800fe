import { expect } from 'chai';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { KeystoneClient } from '../../src/openstack/keystone-client.js';
import { buildStandInSidecarDeb, type StandInDeb } from '../support/istio-sidecar-package/build-stand-in-sidecar-deb.js';
import { startLab, type Lab, type TestVm } from '../support/lab/lab.js';
import { freePort, labVmProvider } from '../support/lab-vm-provider.js';
import { CloudModel } from '../support/openstack-sim/cloud-model.js';
import { startOpenStackSimulator, type OpenStackSimulator } from '../support/openstack-sim/openstack-simulator.js';
import { appendToRunLog } from '../support/run-log.js';
import { ServiceProcess } from '../support/service-process.js';
import { expectEachVmOnboardedOnce } from '../support/onboarded-once.js';
import { instantiateFleet, instantiateWithMeshSidecar, subscribePluginV2, tackerApiCaller } from '../support/tacker-sim/tacker-api-caller.js';
import { startTackerSimulator, type TackerSimulator, type VmProvider } from '../support/tacker-sim/tacker-simulator.js';

/**
 * Issue 11: ten VNFs instantiated through the Tacker simulator, each with one real lab VM, into one
 * `vmsi serve` on its default SQLite store, while the world misbehaves: three VMs come up with sshd
 * stopped (started again only after the service has been refused and killed), one VM is power-cycled
 * in the middle of its install, and the service is SIGKILLed twice and started again on its data
 * folder. Every chaos event waits for the state it needs (a log line, a job state), never a time.
 */
const VM_COUNT = 10;
/** Creation order of the VMs whose sshd is stopped before Tacker reports them. */
const SSHD_STOPPED = new Set([0, 1, 2]);
const CALLBACK_PASSWORD = 'chaos-callback-password-0123456789';
const MESH_SIDECAR = { namespace: 'vm-ns', workloadGroup: 'vm-app', serviceAccount: 'vm-sa', labels: { app: 'vm-app' }, vdus: ['VDU1'] };
/** Bounds each wait so a product that never gets there fails the test instead of hanging it. */
const EVENT_BOUND_MS = 300_000;
const UNFINISHED = new Set(['pending', 'running', 'retry_wait']);

interface JobRow {
  id: string;
  kind: string;
  subject: string;
  state: string;
  key: string | null;
  body: string;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('chaos on lab VMs: sshd down, a VM restarted mid-install, two SIGKILLs (integration, root)', function () {
  this.timeout(900_000);
  let lab: Lab;
  let deb: StandInDeb;
  let openstack: OpenStackSimulator;
  let tacker: TackerSimulator;
  let keystone: KeystoneClient;
  let service: ServiceProcess;
  const vmsByServer = new Map<string, TestVm>();
  const sshdStopped: string[] = [];

  /** Reads the service's job store from outside, as an operator's sqlite3 would; works while the service is dead. */
  function query<T>(sql: string, ...parameters: string[]): T[] {
    const db = new DatabaseSync(path.join(service.dataDir, 'jobs.sqlite'), { readOnly: true });
    try {
      return db.prepare(sql).all(...parameters) as T[];
    } finally {
      db.close();
    }
  }

  const jobs = (): JobRow[] => query<JobRow>('SELECT id, kind, subject_key AS subject, state, idempotency_key AS key, body FROM jobs ORDER BY seq');
  const injectOf = (serverId: string): JobRow | undefined => jobs().find((job) => job.kind === 'inject' && job.subject === serverId);
  const logSeqs = (jobId: string, pattern: string, afterSeq = 0): number[] =>
    query<{ seq: number }>('SELECT seq FROM job_log WHERE job_id = ? AND line LIKE ? AND seq > ?', jobId, pattern, String(afterSeq)).map((row) => row.seq);
  const lastLogSeq = (): number => query<{ seq: number | null }>('SELECT max(seq) AS seq FROM job_log')[0]?.seq ?? 0;

  async function until<T>(what: string, probe: () => T | undefined): Promise<T> {
    const deadline = Date.now() + EVENT_BOUND_MS;
    for (;;) {
      const value = probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`chaos: never saw ${what}; jobs ${JSON.stringify(jobs().map((job) => [job.kind, job.subject, job.state]))}`);
      await sleep(100);
    }
  }

  async function killAndRestart(reason: string): Promise<void> {
    await service.kill();
    appendToRunLog('chaos: SIGKILL', reason);
    await service.start();
  }

  before(async function () {
    lab = await startLab();
    deb = await buildStandInSidecarDeb(path.join(lab.workDir, 'deb'));
    const packageUrl = lab.publishFile(deb.path, 'istio-sidecar.deb');
    const cloud = new CloudModel();
    openstack = await startOpenStackSimulator({ cloud });
    const vms = labVmProvider(lab, vmsByServer);
    let created = 0;
    const withSshdStopped: VmProvider = {
      create: async (request) => {
        const order = created++;
        const server = await vms.create(request);
        if (SSHD_STOPPED.has(order)) {
          await vmsByServer.get(server.serverId)?.stopSshd();
          sshdStopped.push(server.serverId);
        }
        return server;
      },
      destroy: (serverId) => vms.destroy(serverId),
    };
    tacker = await startTackerSimulator({ cloud, vms: withSshdStopped, keystone: { validateToken: (token) => openstack.isTokenValid(token) } });
    openstack.setTackerUrl(tacker.url);
    keystone = new KeystoneClient({ authUrl: openstack.keystoneUrl, auth: openstack.credentials.applicationCredentialById, region: 'RegionOne' });
    const credential = openstack.credentials.applicationCredentialById;
    service = new ServiceProcess({
      privateKeyPath: lab.clientKey.privateKeyPath,
      // The same callback address across restarts, as a real deployment's.
      port: await freePort(),
      // Covers a VM whose sshd stays stopped across a kill of the service, and a VM's power cycle.
      connectDeadline: '5m',
      // Fewer slots than VMs, so installs are still queued and running when the service is killed.
      jobConcurrency: 4,
      extraConfig: (dataDir) => ({
        registry: { kind: 'file', dir: path.join(dataDir, 'registry') },
        openstack: { authUrl: openstack.keystoneUrl, auth: { method: 'application_credential', id: credential.id, secretFile: path.join(dataDir, 'openstack-secret') }, region: 'RegionOne', serverAddress: { network: 'vm-net' } },
        tacker: {
          apiVersions: ['v2'],
          callbackAuth: { kind: 'basic', username: 'tacker', passwordFile: path.join(dataDir, 'callback-password') },
          defaults: { ssh: { user: 'vmadmin', privateKeySecret: 'lab-key' }, package: { source: 'mirror', url: packageUrl, sha256: deb.sha256 }, mesh: { gateway: { ip: lab.bridgeAddress } } },
        },
      }),
    });
    service.writeSecretFile('openstack-secret', credential.secret);
    service.writeSecretFile('callback-password', CALLBACK_PASSWORD);
    await service.start();
  });

  after(async function () {
    await service?.remove();
    await tacker?.close();
    await openstack?.close();
    await Promise.all([...vmsByServer.values()].map((vm) => vm.stop()));
    await lab?.close();
  });

  const instantiate = (): Promise<string> => instantiateWithMeshSidecar(tackerApiCaller(tacker, keystone), tacker, { vnfdId: 'vnfd-one-vm', meshSidecar: MESH_SIDECAR });

  /** Power-cycles the first VM with sshd up whose install script has begun downloading the package. */
  async function restartVmMidInstall(): Promise<string> {
    const serverId = await until('an install under way', () =>
      [...vmsByServer.keys()].find((server) => {
        const job = sshdStopped.includes(server) ? undefined : injectOf(server);
        return job !== undefined && job.state === 'running' && logSeqs(job.id, '%vmsi: %downloading%').length > 0;
      }),
    );
    await vmsByServer.get(serverId)?.restart();
    appendToRunLog('chaos: VM restarted mid-install', serverId);
    return serverId;
  }

  /** Waits until the service has been refused by every VM whose sshd is stopped. */
  async function refusedByEveryStoppedSshd(): Promise<void> {
    await until('a refused connection to every VM with sshd stopped', () => {
      const refused = sshdStopped.every((serverId) => {
        const job = injectOf(serverId);
        return job !== undefined && logSeqs(job.id, 'ssh: connect attempt % failed:%').length > 0;
      });
      return refused ? true : undefined;
    });
  }

  it('injects every VM exactly once, with one job per acknowledged notification, through sshd outages, a VM restart mid-install and two SIGKILLs', async function () {
    const started = Date.now();
    await subscribePluginV2(tackerApiCaller(tacker, keystone), service.url, { username: 'tacker', password: CALLBACK_PASSWORD });
    tacker.registerVnfd({ vnfdId: 'vnfd-one-vm', vdus: [{ vduId: 'VDU1', initialInstances: 1 }] });

    const vnfs = await instantiateFleet(VM_COUNT, instantiate);
    await tacker.settled();
    expect(sshdStopped).to.have.length(SSHD_STOPPED.size);

    const restartedVm = await restartVmMidInstall();
    await refusedByEveryStoppedSshd();
    const logSeqAtFirstKill = lastLogSeq();
    await killAndRestart('with the jobs of the VMs without sshd running');
    await Promise.all(sshdStopped.map((serverId) => vmsByServer.get(serverId)?.startSshd() ?? Promise.resolve()));
    // Kill again once a recovered job is installing: its bundle, lock and package are half done.
    await until('an install after the first restart', () => jobs().find((job) => job.kind === 'inject' && logSeqs(job.id, '%vmsi: %downloading%', logSeqAtFirstKill).length > 0));
    await killAndRestart('with a recovered job installing');

    const all = await until('every job finished', () => {
      const current = jobs();
      const injects = current.filter((job) => job.kind === 'inject');
      return injects.length === VM_COUNT && current.every((job) => !UNFINISHED.has(job.state)) ? current : undefined;
    });
    const seconds = Math.round((Date.now() - started) / 1000);
    const restartedJob = all.find((job) => job.kind === 'inject' && job.subject === restartedVm);
    const restartedSteps = (JSON.parse(restartedJob?.body ?? '{}') as { steps?: Array<{ name: string; attempts: number; output: unknown }> }).steps ?? [];
    const deliverAttempts = restartedSteps.find((step) => step.name === 'deliver')?.attempts;
    const isReonboarded = JSON.stringify(restartedSteps.find((step) => step.name === 'verify')?.output ?? {}).includes('reinstalledAfterRestart');
    console.log(
      `      chaos: ${VM_COUNT} VMs, sshd stopped on ${sshdStopped.length}, a VM restarted mid-install (deliver attempts ${deliverAttempts}, onboarded again by verify: ${isReonboarded}), 2 SIGKILLs; all jobs finished ${seconds} s after the first instantiation`,
    );
    appendToRunLog('chaos: outcome', JSON.stringify({ seconds, restartedVm, jobs: all.map((job) => [job.kind, job.subject, job.state]) }));

    const notSucceeded = all
      .filter((job) => job.state !== 'succeeded')
      .map((job) => ({ kind: job.kind, subject: job.subject, state: job.state, restarted: job.subject === restartedVm, log: query<{ line: string }>('SELECT line FROM job_log WHERE job_id = ? ORDER BY seq', job.id).map((row) => row.line).slice(-20) }));
    expect(notSucceeded, `every job succeeded: ${JSON.stringify(notSucceeded)}`).to.deep.equal([]);

    const notifications = tacker.deliveries().filter((delivery) => delivery.kind === 'notification');
    const accepted = notifications.filter((delivery) => delivery.status === 204);
    expect(accepted.length, 'every notification answered 204').to.equal(notifications.length);
    await expectEachVmOnboardedOnce({ accepted, jobs: all, tacker, vnfInstanceIds: vnfs, vmsByServer, registryDir: path.join(service.dataDir, 'registry', 'vm-ns'), vmCount: VM_COUNT });
  });
});
