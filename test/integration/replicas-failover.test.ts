import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KeystoneClient } from '../../src/openstack/keystone-client.js';
import { buildStandInSidecarDeb, type StandInDeb } from '../support/istio-sidecar-package/build-stand-in-sidecar-deb.js';
import { startLab, type Lab, type TestVm } from '../support/lab/lab.js';
import { labVmProvider } from '../support/lab-vm-provider.js';
import { CloudModel } from '../support/openstack-sim/cloud-model.js';
import { startOpenStackSimulator, type OpenStackSimulator } from '../support/openstack-sim/openstack-simulator.js';
import type { PostgresCluster } from '../support/postgres/postgres-cluster.js';
import { acquirePostgresCluster, freshDatabaseUrl, releasePostgresCluster } from '../support/postgres/postgres-test-database.js';
import { startRoundRobinProxy, type RoundRobinProxy } from '../support/round-robin-proxy.js';
import { appendToRunLog } from '../support/run-log.js';
import { ServiceProcess } from '../support/service-process.js';
import { expectEachVmOnboardedOnce } from '../support/onboarded-once.js';
import { instantiateFleet, instantiateWithMeshSidecar, subscribePluginV2, tackerApiCaller } from '../support/tacker-sim/tacker-api-caller.js';
import { startTackerSimulator, type TackerSimulator } from '../support/tacker-sim/tacker-simulator.js';

/**
 * Issue 13: three `vmsi serve` replicas on one PostgreSQL database behind one callback address.
 * Twenty VNFs are instantiated through the Tacker simulator, each with one real lab VM; their
 * notifications reach the replicas in turn; one replica is SIGKILLed while it runs installs.
 */
const VM_COUNT = 20;
const REPLICAS = 3;
/** store.lease: renewals every 2 s, so a dead replica's jobs are taken over within 8 s. */
const LEASE = '8s';
const LEASE_MS = 8_000;
const CALLBACK_PASSWORD = 'callback-password-0123456789';
const MESH_SIDECAR = { namespace: 'vm-ns', workloadGroup: 'vm-app', serviceAccount: 'vm-sa', labels: { app: 'vm-app' }, vdus: ['VDU1'] };

interface JobRow {
  id: string;
  kind: string;
  subject: string;
  state: string;
  owner: string | null;
  key: string | null;
  /** The last error and the steps, for a failure message. */
  lastError: unknown;
  steps: Array<{ name: string; state: string; attempts: number }>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('replicas on PostgreSQL: failover mid-install (integration, root)', function () {
  this.timeout(900_000);
  let lab: Lab;
  let deb: StandInDeb;
  let cluster: PostgresCluster;
  let databaseName: string;
  let openstack: OpenStackSimulator;
  let tacker: TackerSimulator;
  let keystone: KeystoneClient;
  let proxy: RoundRobinProxy;
  let registryDir: string;
  const replicas: ServiceProcess[] = [];
  const live = new Set<number>();
  const vmsByServer = new Map<string, TestVm>();

  async function jobs(): Promise<JobRow[]> {
    const sql = `SELECT json_build_object('id', id, 'kind', kind, 'subject', subject_key, 'state', state, 'owner', lease_owner, 'key', idempotency_key, 'lastError', body->'lastError', 'steps', body->'steps') FROM jobs ORDER BY seq`;
    const out = await cluster.query(databaseName, sql);
    return out
      .trim()
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as JobRow);
  }

  before(async function () {
    lab = await startLab();
    deb = await buildStandInSidecarDeb(path.join(lab.workDir, 'deb'));
    const packageUrl = lab.publishFile(deb.path, 'istio-sidecar.deb');
    cluster = await acquirePostgresCluster();
    const url = await freshDatabaseUrl(cluster, 'failover');
    databaseName = new URL(url).pathname.slice(1);
    const cloud = new CloudModel();
    openstack = await startOpenStackSimulator({ cloud });
    tacker = await startTackerSimulator({ cloud, vms: labVmProvider(lab, vmsByServer), keystone: { validateToken: (token) => openstack.isTokenValid(token) } });
    openstack.setTackerUrl(tacker.url);
    keystone = new KeystoneClient({ authUrl: openstack.keystoneUrl, auth: openstack.credentials.applicationCredentialById, region: 'RegionOne' });
    registryDir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-shared-registry-'));
    proxy = await startRoundRobinProxy(() => [...live].sort().map((index) => replicas[index]?.url ?? ''));
    const credential = openstack.credentials.applicationCredentialById;
    for (let index = 0; index < REPLICAS; index++) {
      const replica = new ServiceProcess({
        privateKeyPath: lab.clientKey.privateKeyPath,
        // Twenty VMs boot on a shared, loaded test host: sshd may take minutes to answer its first handshake.
        connectDeadline: '5m',
        // Fewer slots than VMs, so installs are still queued and running once every notification is in.
        jobConcurrency: 3,
        extraConfig: (dataDir) => ({
          store: { kind: 'postgres', url, lease: LEASE, replicaName: `replica-${index}`, poolSize: 6 },
          registry: { kind: 'file', dir: registryDir },
          openstack: { authUrl: openstack.keystoneUrl, auth: { method: 'application_credential', id: credential.id, secretFile: path.join(dataDir, 'openstack-secret') }, region: 'RegionOne', serverAddress: { network: 'vm-net' } },
          tacker: {
            apiVersions: ['v2'],
            callbackAuth: { kind: 'basic', username: 'tacker', passwordFile: path.join(dataDir, 'callback-password') },
            callbackBaseUrl: proxy.url,
            defaults: { ssh: { user: 'vmadmin', privateKeySecret: 'lab-key' }, package: { source: 'mirror', url: packageUrl, sha256: deb.sha256 }, mesh: { gateway: { ip: lab.bridgeAddress } } },
          },
        }),
      });
      replica.writeSecretFile('openstack-secret', credential.secret);
      replica.writeSecretFile('callback-password', CALLBACK_PASSWORD);
      replicas.push(replica);
    }
    // Started one by one: the first applies the migrations, the others find them done.
    for (const [index, replica] of replicas.entries()) {
      await replica.start();
      live.add(index);
    }
  });

  after(async function () {
    for (const replica of replicas) await replica.remove();
    await proxy?.close();
    await tacker?.close();
    await openstack?.close();
    await Promise.all([...vmsByServer.values()].map((vm) => vm.stop()));
    await lab?.close();
    if (cluster !== undefined) await releasePostgresCluster();
    if (registryDir !== undefined) rmSync(registryDir, { recursive: true, force: true });
  });

  const instantiate = (): Promise<string> => instantiateWithMeshSidecar(tackerApiCaller(tacker, keystone), tacker, { vnfdId: 'vnfd-one-vm', meshSidecar: MESH_SIDECAR });

  /** The replica with the most inject jobs running (its lease owner names it), once it has at least two. */
  async function busiestReplica(): Promise<{ index: number; jobIds: string[] }> {
    const deadline = Date.now() + 300_000;
    while (Date.now() < deadline) {
      const running = (await jobs()).filter((job) => job.kind === 'inject' && job.state === 'running' && job.owner !== null);
      for (const index of [...live]) {
        const held = running.filter((job) => job.owner?.startsWith(`replica-${index}/`));
        if (held.length >= 2) return { index, jobIds: held.map((job) => job.id) };
      }
      await sleep(100);
    }
    throw new Error('no replica ever ran two installs at once');
  }

  it('loses no job and injects every VM exactly once when a replica is SIGKILLed mid-install; its leases are taken over within the lease time', async function () {
    await subscribePluginV2(tackerApiCaller(tacker, keystone), proxy.url, { username: 'tacker', password: CALLBACK_PASSWORD });
    tacker.registerVnfd({ vnfdId: 'vnfd-one-vm', vdus: [{ vduId: 'VDU1', initialInstances: 1 }] });

    const vnfs = await instantiateFleet(VM_COUNT, instantiate);
    await tacker.settled();
    const notifications = tacker.deliveries().filter((delivery) => delivery.kind === 'notification');
    const accepted = notifications.filter((delivery) => delivery.status === 204);
    expect(accepted.length, 'every notification answered 204').to.equal(notifications.length);
    const servedBy = new Set(proxy.requests().filter((request) => request.method === 'POST' && request.status === 204).map((request) => request.backend));
    expect([...servedBy].sort(), 'notifications spread over every replica').to.deep.equal([0, 1, 2]);

    const victim = await busiestReplica();
    const killedAt = Date.now();
    await replicas[victim.index]!.kill();
    live.delete(victim.index);
    appendToRunLog('failover: killed replica', JSON.stringify({ replica: victim.index, runningJobs: victim.jobIds }));

    const takenOver = new Map<string, number>();
    const deadline = Date.now() + 600_000;
    for (;;) {
      const all = await jobs();
      for (const job of all) {
        const isTaken = job.owner !== null && !job.owner.startsWith(`replica-${victim.index}/`);
        const isDone = job.state !== 'running';
        if (victim.jobIds.includes(job.id) && !takenOver.has(job.id) && (isTaken || isDone)) takenOver.set(job.id, Date.now() - killedAt);
      }
      const unfinished = all.filter((job) => !['succeeded', 'failed', 'failed_temp'].includes(job.state));
      if (unfinished.length === 0 && takenOver.size === victim.jobIds.length) break;
      if (Date.now() > deadline) throw new Error(`jobs did not settle: ${JSON.stringify(unfinished)}`);
      await sleep(100);
    }
    const takeoverMs = Math.max(...takenOver.values());
    appendToRunLog('failover: takeover', JSON.stringify({ takeoverMs, perJob: Object.fromEntries(takenOver), leaseMs: LEASE_MS }));
    console.log(`      failover: ${victim.jobIds.length} running jobs of replica-${victim.index} taken over ${takeoverMs} ms after SIGKILL (lease ${LEASE_MS} ms)`);
    expect(takeoverMs, 'taken over within the lease time').to.be.at.most(LEASE_MS);

    const all = await jobs();
    const notSucceeded = all.filter((job) => job.state !== 'succeeded');
    expect(notSucceeded, `every job succeeded: ${JSON.stringify(notSucceeded)}`).to.deep.equal([]);
    await expectEachVmOnboardedOnce({ accepted, jobs: all, tacker, vnfInstanceIds: vnfs, vmsByServer, registryDir: path.join(registryDir, 'vm-ns'), vmCount: VM_COUNT });
  });
});
