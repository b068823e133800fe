import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { PROJECT_ROOT } from '../support/vmsi-cli.js';
import { appendToRunLog } from '../support/run-log.js';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { JobView } from '../../src/injection/job-view.js';
import { KeystoneClient } from '../../src/openstack/keystone-client.js';
import { buildStandInSidecarDeb, type StandInDeb } from '../support/istio-sidecar-package/build-stand-in-sidecar-deb.js';
import { startLab, type Lab, type TestVm } from '../support/lab/lab.js';
import { CloudModel } from '../support/openstack-sim/cloud-model.js';
import { startOpenStackSimulator, type OpenStackSimulator } from '../support/openstack-sim/openstack-simulator.js';
import { ServiceProcess } from '../support/service-process.js';
import { tackerApiCaller, type TackerApiCall } from '../support/tacker-sim/tacker-api-caller.js';
import { startTackerSimulator, type TackerSimulator } from '../support/tacker-sim/tacker-simulator.js';
import { startOAuth2TokenEndpoint, type OAuth2TokenEndpoint } from '../support/tacker-sim/oauth2-token-endpoint.js';
import { runVmsi } from '../support/vmsi-cli.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import { DatabaseSync } from 'node:sqlite';
import { freePort, labVmProvider } from '../support/lab-vm-provider.js';
import { labVmDefaults, openstackConfig } from '../support/integration-fixtures.js';

/**
 * Issue 4 end to end: Tacker (simulated, both APIs) creates VMs that are real lab VMs; the real
 * service learns of them only through Tacker's notifications and Nova, and injects the opted-in ones.
 */
const CALLBACK_PASSWORD = 'callback-password-0123456789';
// Tacker's OAuth2 client (v1 subscriptions) and ours, which introspects the tokens Tacker presents.
const TACKER_CLIENT = { clientId: 'tacker', clientSecret: 'tacker-client-secret-0123456789' };
const INTROSPECTION_CLIENT = { clientId: 'vmsi', clientSecret: 'vmsi-introspection-secret-0123456789' };
const WEBHOOK_SECRET = Buffer.from('tacker-e2e-webhook-hmac-key-0123456789');
const MESH_SIDECAR = { namespace: 'vm-ns', workloadGroup: 'vm-app', serviceAccount: 'vm-sa', labels: { app: 'vm-app' }, vdus: ['VDU1'] };

describe('Tacker plugin, end to end', function () {
  this.timeout(600_000);
  let lab: Lab;
  let deb: StandInDeb;
  let openstack: OpenStackSimulator;
  let tacker: TackerSimulator;
  let service: ServiceProcess;
  let keystone: KeystoneClient;
  let oauth2: OAuth2TokenEndpoint;
  const vmsByServer = new Map<string, TestVm>();
  const receiver = new WebhookReceiver(WEBHOOK_SECRET);

  before(async function () {
    lab = await startLab();
    deb = await buildStandInSidecarDeb(path.join(lab.workDir, 'deb'));
    const packageUrl = lab.publishFile(deb.path, 'istio-sidecar.deb');
    const cloud = new CloudModel();
    openstack = await startOpenStackSimulator({ cloud });
    const vms = labVmProvider(lab, vmsByServer);

    tacker = await startTackerSimulator({ cloud, vms, keystone: { validateToken: (token) => openstack.isTokenValid(token) }, timing: { v1RetryWaitMs: 200, v1RetryTimeoutMs: 5_000 } });
    openstack.setTackerUrl(tacker.url);
    keystone = new KeystoneClient({ authUrl: openstack.keystoneUrl, auth: openstack.credentials.applicationCredentialById, region: 'RegionOne' });
    // Tacker v1 asks for its token with GET (tacker/common/utils.py); the issuer must allow it.
    oauth2 = await startOAuth2TokenEndpoint({ ...TACKER_CLIENT, allowGetTokenRequests: true, introspectionClients: [INTROSPECTION_CLIENT] });
    const port = await freePort();
    const credential = openstack.credentials.applicationCredentialById;
    await receiver.start();
    service = new ServiceProcess({
      privateKeyPath: lab.clientKey.privateKeyPath,
      webhook: { url: receiver.url, secret: WEBHOOK_SECRET, deadline: '2m' },
      port,
      connectDeadline: '60s',
      extraConfig: (dataDir) => ({
        openstack: openstackConfig(openstack, dataDir),
        tacker: {
          callbackAuth: { kind: 'basic', username: 'tacker', passwordFile: path.join(dataDir, 'callback-password') },
          callbackAuthByApi: {
            v1: { kind: 'oauth2-introspection', introspectionUrl: oauth2.introspectionEndpoint, clientId: INTROSPECTION_CLIENT.clientId, clientSecretFile: path.join(dataDir, 'introspection-secret') },
          },
          oauth2: { tokenEndpoint: oauth2.tokenEndpoint, clientId: TACKER_CLIENT.clientId, clientSecretFile: path.join(dataDir, 'tacker-client-secret') },
          callbackBaseUrl: `http://127.0.0.1:${port}`,
          defaults: labVmDefaults(lab, { url: packageUrl, sha256: deb.sha256 }),
        },
      }),
    });
    service.writeSecretFile('openstack-secret', credential.secret);
    service.writeSecretFile('callback-password', CALLBACK_PASSWORD);
    service.writeSecretFile('introspection-secret', INTROSPECTION_CLIENT.clientSecret);
    service.writeSecretFile('tacker-client-secret', TACKER_CLIENT.clientSecret);
    await service.start();
  });
  after(async function () {
    await service?.remove();
    await tacker?.close();
    await receiver.stop();
    await oauth2?.close();
    await openstack?.close();
    await Promise.all([...vmsByServer.values()].map((vm) => vm.stop()));
    await lab?.close();
  });

  const tackerApi: TackerApiCall = (apiVersion, method, route, body) => tackerApiCaller(tacker, keystone)(apiVersion, method, route, body);

  async function runOperation(apiVersion: 'v1' | 'v2', route: string, body: unknown): Promise<string> {
    const started = await tackerApi<{ id?: string }>(apiVersion, 'POST', route, body);
    expect(started.status, JSON.stringify(started.body)).to.equal(202);
    const opOccId = started.location?.split('/').pop() ?? '';
    await tacker.waitForOpOcc(opOccId, 'COMPLETED', 120_000);
    return opOccId;
  }

  async function createAndInstantiate(apiVersion: 'v1' | 'v2', vnfdId: string, additionalParams: Record<string, unknown>): Promise<string> {
    const created = await tackerApi<{ id: string }>(apiVersion, 'POST', '/vnf_instances', { vnfdId, vnfInstanceName: `vnf-${randomUUID().slice(0, 8)}` });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    await runOperation(apiVersion, `/vnf_instances/${created.body.id}/instantiate`, { flavourId: 'simple', additionalParams });
    return created.body.id;
  }

  async function jobsOf(kind: 'inject' | 'remove' | 'lcm-event'): Promise<JobView[]> {
    return (await service.request<{ items: JobView[] }>('GET', `/v1/injections?kind=${kind}&limit=1000`)).body.items;
  }

  /** Waits until the service has settled the jobs for these servers (every job final). */
  async function settledJobs(kind: 'inject' | 'remove', serverIds: string[]): Promise<JobView[]> {
    const deadline = Date.now() + 240_000;
    for (;;) {
      const jobs = (await jobsOf(kind)).filter((job) => serverIds.includes(job.vm.serverId ?? ''));
      const done = jobs.filter((job) => ['succeeded', 'failed', 'failed_temp'].includes(job.state));
      if (new Set(done.map((job) => job.vm.serverId)).size === serverIds.length) return done;
      if (Date.now() > deadline) throw new Error(`${kind} jobs for ${serverIds.join(', ')} did not settle: ${JSON.stringify(jobs.map((job) => [job.vm.serverId, job.state]))}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  function serversOf(vnfInstanceId: string, vduId: string): string[] {
    const instance = tacker.vnfInstances().find((candidate) => candidate.id === vnfInstanceId);
    return (instance?.vnfcs ?? []).filter((vnfc) => vnfc.vduId === vduId).map((vnfc) => vnfc.serverId);
  }

  async function isSidecarActive(serverId: string): Promise<boolean> {
    const vm = vmsByServer.get(serverId);
    return vm !== undefined && (await vm.run(['systemctl', 'is-active', 'istio'])).stdout.trim() === 'active';
  }

  function registered(serverAddress: string): boolean {
    return existsSync(path.join(service.dataDir, 'registry', 'vm-ns', `workloadentry-vm-app-${serverAddress}.yaml`));
  }

  it('subscribes through vmsi tacker subscribe, passing Tacker’s callback test, and keeps the subscription on a re-run', async function () {
    for (const apiVersion of ['v2', 'v1']) {
      const first = await runVmsi(['--config', service.configFile, 'tacker', 'subscribe', '--api', apiVersion, '--json']);
      expect(first.code, first.stderr).to.equal(0);
      const again = await runVmsi(['--config', service.configFile, 'tacker', 'subscribe', '--api', apiVersion, '--json']);
      expect(JSON.parse(again.stdout)).to.include({ created: false, id: (JSON.parse(first.stdout) as { id: string }).id });
    }
    expect(tacker.subscriptions()).to.have.length(2);
    expect(tacker.callbackTests().every((attempt) => attempt.status === 204)).to.equal(true);
    // The v1 route takes OAuth2 client-credentials tokens, which Tacker fetched from the issuer.
    expect(oauth2.issuedTokens().length).to.be.greaterThan(0);
  });

  it('v2: injects only the opted-in VDU at instantiation, then follows scale out, scale in, heal and terminate', async function () {
    tacker.registerVnfd({ vnfdId: 'vnfd-two-vdus', vdus: [{ vduId: 'VDU1', initialInstances: 1 }, { vduId: 'VDU2', initialInstances: 1 }], scalingAspects: { VDU1_scale: { vduId: 'VDU1', stepDelta: 1 } } });
    const vnf = await createAndInstantiate('v2', 'vnfd-two-vdus', { meshSidecar: MESH_SIDECAR });
    const [first] = serversOf(vnf, 'VDU1');
    const [other] = serversOf(vnf, 'VDU2');
    const injected = await settledJobs('inject', [first ?? '']);
    expect(injected.map((job) => job.state)).to.deep.equal(['succeeded']);
    expect(await isSidecarActive(first ?? '')).to.equal(true);
    expect(await isSidecarActive(other ?? '')).to.equal(false);
    expect((await jobsOf('inject')).some((job) => job.vm.serverId === other)).to.equal(false);

    await runOperation('v2', `/vnf_instances/${vnf}/scale`, { type: 'SCALE_OUT', aspectId: 'VDU1_scale', numberOfSteps: 1 });
    const added = serversOf(vnf, 'VDU1').filter((serverId) => serverId !== first);
    expect((await settledJobs('inject', added)).map((job) => job.state)).to.deep.equal(['succeeded']);

    await runOperation('v2', `/vnf_instances/${vnf}/scale`, { type: 'SCALE_IN', aspectId: 'VDU1_scale', numberOfSteps: 1 });
    const [scaledIn] = [first, ...added].filter((serverId) => !serversOf(vnf, 'VDU1').includes(serverId ?? ''));
    const removal = await settledJobs('remove', [scaledIn ?? '']);
    expect(removal.map((job) => job.state)).to.deep.equal(['succeeded']);
    expect(registered(removal[0]?.vm.address ?? '')).to.equal(false);

    const [survivor] = serversOf(vnf, 'VDU1');
    // SOL 002/003 heal names VNFCs by their vnfcInfo id, which Tacker v2 builds as <vduId>-<resource id>.
    const instance = await tackerApi<{ instantiatedVnfInfo: { vnfcInfo: Array<{ id: string; vnfcResourceInfoId: string }> } }>('v2', 'GET', `/vnf_instances/${vnf}`);
    const vnfcId = instance.body.instantiatedVnfInfo.vnfcInfo.find((info) => info.vnfcResourceInfoId === survivor)?.id;
    await runOperation('v2', `/vnf_instances/${vnf}/heal`, { vnfcInstanceId: [vnfcId] });
    const [healed] = serversOf(vnf, 'VDU1');
    expect(healed).to.not.equal(survivor);
    expect((await settledJobs('inject', [healed ?? ''])).map((job) => job.state)).to.deep.equal(['succeeded']);
    expect((await settledJobs('remove', [survivor ?? ''])).map((job) => job.state)).to.deep.equal(['succeeded']);

    await runOperation('v2', `/vnf_instances/${vnf}/terminate`, { terminationType: 'FORCEFUL' });
    expect((await settledJobs('remove', [healed ?? ''])).map((job) => job.state)).to.deep.equal(['succeeded']);
    const entries = readdirSync(path.join(service.dataDir, 'registry', 'vm-ns')).filter((name) => name.startsWith('workloadentry-'));
    expect(entries).to.deep.equal([]);
  });

  it('v1 notification shapes end in the same jobs, one per server despite two subscriptions each', async function () {
    tacker.registerVnfd({ vnfdId: 'vnfd-one-vdu', vdus: [{ vduId: 'VDU1', initialInstances: 1 }] });
    const extra = await tackerApi('v2', 'POST', '/subscriptions', {
      callbackUri: `${service.url}/v1/tacker/notifications/v2`,
      authentication: { authType: ['BASIC'], paramsBasic: { userName: 'tacker', password: CALLBACK_PASSWORD } },
    });
    expect(extra.status).to.equal(201);
    const v1Vnf = await createAndInstantiate('v1', 'vnfd-one-vdu', { meshSidecar: MESH_SIDECAR });
    const v2Vnf = await createAndInstantiate('v2', 'vnfd-one-vdu', { meshSidecar: MESH_SIDECAR });
    const servers = [...serversOf(v1Vnf, 'VDU1'), ...serversOf(v2Vnf, 'VDU1')];
    const jobs = await settledJobs('inject', servers);
    expect(jobs.map((job) => job.state)).to.deep.equal(['succeeded', 'succeeded']);
    const v1Deliveries = tacker.deliveries().filter((delivery) => delivery.api === 'v1' && delivery.kind === 'notification');
    expect(v1Deliveries.length).to.be.greaterThan(0);
    expect(v1Deliveries.every((delivery) => delivery.status === 204)).to.equal(true);
    const all = (await jobsOf('inject')).filter((job) => servers.includes(job.vm.serverId ?? ''));
    expect(all).to.have.length(2);

    // v1 heal reports only the rebuilt server (MODIFIED); the old one must still leave the mesh.
    const [before] = serversOf(v1Vnf, 'VDU1');
    const vnfc = tacker.vnfInstances().find((instance) => instance.id === v1Vnf)?.vnfcs.find((candidate) => candidate.serverId === before);
    await runOperation('v1', `/vnf_instances/${v1Vnf}/heal`, { vnfcInstanceId: [vnfc?.resourceInfoId] });
    const [after] = serversOf(v1Vnf, 'VDU1');
    expect(after).to.not.equal(before);
    expect((await settledJobs('inject', [after ?? ''])).map((job) => job.state)).to.deep.equal(['succeeded']);
    expect((await settledJobs('remove', [before ?? ''])).map((job) => job.state)).to.deep.equal(['succeeded']);
  });

  it('after missing an instantiation while down, vmsi tacker reconcile injects the VM', async function () {
    const since = new Date(Date.now() - 1000).toISOString();
    await service.stop();
    const vnf = await createAndInstantiate('v2', 'vnfd-one-vdu', { meshSidecar: MESH_SIDECAR });
    await tacker.settled();
    await service.start();
    const result = await runVmsi(['--config', service.configFile, 'tacker', 'reconcile', '--api', 'v2', '--since', since, '--url', service.url, '--token-file', path.join(service.dataDir, 'api-token'), '--json']);
    expect(result.code, result.stderr).to.equal(0);
    expect((JSON.parse(result.stdout) as { stored: number }).stored).to.be.greaterThan(0);
    expect((await settledJobs('inject', serversOf(vnf, 'VDU1'))).map((job) => job.state)).to.deep.equal(['succeeded']);
  });

  it('Mode B: the mgmt-driver script injects through the service at instantiate_end and exits 0; an unknown server makes it fail', async function () {
    tacker.registerVnfd({ vnfdId: 'vnfd-mgmt-driver', vdus: [{ vduId: 'VDU1', initialInstances: 1 }] });
    // Instantiated without meshSidecar: the notification path skips the VM, the driver script opts it in.
    const vnf = await createAndInstantiate('v2', 'vnfd-mgmt-driver', {});
    const vnfInstance = (await tackerApi<Record<string, unknown>>('v2', 'GET', `/vnf_instances/${vnf}`)).body;
    const configFile = path.join(service.dataDir, 'mgmt-driver.json');
    writeFileSync(configFile, JSON.stringify({ pluginUrl: service.url, tokenFile: path.join(service.dataDir, 'api-token'), timeoutSeconds: 240, pollIntervalSeconds: 1 }));
    // Asynchronous on purpose: the simulators the service calls live in this process's event loop.
    const runScript = (instance: Record<string, unknown>): Promise<{ status: number | null; stderr: string }> => {
      const input = { operation: 'instantiate_end', request: { flavourId: 'simple', additionalParams: { meshSidecar: MESH_SIDECAR } }, vnf_instance: instance, grant_request: null, grant_response: null, tmp_csar_dir: '/tmp/csar' };
      const pickled = spawnSync('python3', ['-c', 'import json, pickle, sys; sys.stdout.buffer.write(pickle.dumps(json.load(sys.stdin)))'], { input: JSON.stringify(input) }).stdout;
      return new Promise((resolve) => {
        const child = spawn('python3', [path.join(PROJECT_ROOT, 'plugin-manifest/mgmt_driver/vmsi_mgmt_driver.py')], { env: { ...process.env, VMSI_MGMT_CONFIG: configFile } });
        let output = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('latin1')));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('close', (status) => {
          appendToRunLog('mgmt driver script', output + stderr);
          resolve({ status, stderr });
        });
        child.stdin.end(pickled);
      });
    };
    const success = await runScript(vnfInstance);
    expect(success.status, success.stderr).to.equal(0);
    const [serverId] = serversOf(vnf, 'VDU1');
    expect(await isSidecarActive(serverId ?? '')).to.equal(true);

    const unknownServer = randomUUID();
    const broken = structuredClone(vnfInstance) as { instantiatedVnfInfo: { vnfcResourceInfo: Array<{ computeResource: { resourceId: string } }> } };
    for (const info of broken.instantiatedVnfInfo.vnfcResourceInfo) info.computeResource.resourceId = unknownServer;
    const failure = await runScript(broken);
    expect(failure.status).to.not.equal(0);
    expect(failure.stderr).to.include(unknownServer);
  });

  it('answers malformed, oversized, mistyped and unauthenticated notifications with 4xx, stores nothing and keeps serving', async function () {
    const url = `${service.url}/v1/tacker/notifications/v2`;
    const basic = `Basic ${Buffer.from(`tacker:${CALLBACK_PASSWORD}`).toString('base64')}`;
    const before = (await jobsOf('lcm-event')).length;
    const post = (body: string, authorization?: string): Promise<Response> =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, body });
    const unauthenticated = await post('{}');
    expect(unauthenticated.status).to.equal(401);
    expect(unauthenticated.headers.get('www-authenticate')).to.match(/^Basic /);
    expect((await post('{}', `Basic ${Buffer.from('tacker:wrong').toString('base64')}`)).status).to.equal(401);
    expect((await post('{"notificationType":', basic)).status).to.equal(400);
    expect((await post(JSON.stringify({ notificationType: 'VnfLcmOperationOccurrenceNotification', operationState: 42 }), basic)).status).to.equal(400);
    expect((await post(JSON.stringify({ padding: 'x'.repeat(1_100_000) }), basic)).status).to.equal(413);
    expect((await jobsOf('lcm-event')).length).to.equal(before);
    expect((await fetch(`${service.url}/healthz`, { headers: { authorization: `Bearer ${service.token}` } })).status).to.equal(200);
  });

  it('leaves no secret value in the logs, any table of the job store, any API answer or any CloudEvent', async function () {
    const key = readFileSync(lab.clientKey.privateKeyPath, 'utf8');
    const keyLines = key.split('\n').filter((line) => line.length >= 40 && !line.startsWith('-----'));
    const secrets: Record<string, string[]> = {
      'SSH private key': keyLines,
      'mesh token': [readFileSync(path.join(service.dataDir, 'mesh-credentials', 'tokens', 'vm-ns', 'vm-sa.jwt'), 'utf8').trim()],
      'callback password': [CALLBACK_PASSWORD],
      'OAuth2 client secret': [TACKER_CLIENT.clientSecret, INTROSPECTION_CLIENT.clientSecret],
      'OpenStack credential': [openstack.credentials.applicationCredentialById.secret],
      'webhook HMAC key': [WEBHOOK_SECRET.toString('utf8')],
      'API token': [service.token],
    };
    const places: Record<string, string> = { 'service log': service.printed, 'CloudEvents': JSON.stringify(receiver.deliveries) };
    const db = new DatabaseSync(path.join(service.dataDir, 'jobs.sqlite'), { readOnly: true });
    try {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>;
      for (const { name } of tables) places[`table ${name}`] = JSON.stringify(db.prepare(`SELECT * FROM "${name.replaceAll('"', '""')}"`).all());
    } finally {
      db.close();
    }
    const answers: string[] = [];
    for (const kind of ['inject', 'remove', 'lcm-event', 'notification']) {
      const list = await service.request<{ items: JobView[] }>('GET', `/v1/injections?kind=${kind}&limit=1000`);
      answers.push(JSON.stringify(list.body));
      for (const job of list.body.items.slice(0, 20)) answers.push(JSON.stringify((await service.request<JobView>('GET', `/v1/injections/${job.id}`)).body));
    }
    places['API answers'] = answers.join('\n');
    const found: string[] = [];
    for (const [secret, values] of Object.entries(secrets)) {
      for (const [place, text] of Object.entries(places)) if (values.some((value) => value.length > 0 && text.includes(value))) found.push(`${secret} in ${place}`);
    }
    expect(Object.values(places).every((text) => text.length > 0)).to.equal(true);
    expect(receiver.events.length).to.be.greaterThan(0);
    console.log(`      secrets scan: ${Object.keys(secrets).length} kinds over ${Object.keys(places).length} places, ${found.length} found`);
    expect(found).to.deep.equal([]);
  });
});
