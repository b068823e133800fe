import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { appendToRunLog } from '../support/run-log.js';
import { TEST_TOKEN_MARKER } from '../support/test-credentials.js';

// The Tacker v2 mgmt-driver script, run the way tacker-conductor runs it (`python3 <script>`, a
// pickled dict on stdin), against a test double of the plugin's mgmt endpoint on 127.0.0.1.

const SCRIPT = fileURLToPath(new URL('../../plugin-manifest/mgmt_driver/vmsi_mgmt_driver.py', import.meta.url));
const VNFD_SNIPPET = fileURLToPath(new URL('../../plugin-manifest/vnfd/vmsi-mgmt-driver-snippet.yaml', import.meta.url));
const SUBSCRIPTIONS = fileURLToPath(new URL('../../plugin-manifest/subscriptions/', import.meta.url));
/** VMSI_TEST_PYTHON runs the suite under another interpreter (the script targets Python 3.8+). */
const PYTHON = process.env.VMSI_TEST_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const TOKEN = `mgmt-token-${TEST_TOKEN_MARKER}`;

const VNF_INSTANCE_ID = '5a2b4f37-4c1e-4d6b-9a53-3f6c1d2e8b01';
const VNFD_ID = 'b1bb0ce7-ebca-4fa7-95ed-4840d7000000';
const LCM_OP_OCC_ID = '7c3f2f6e-9d8a-4c55-8f0e-2b1e5a6d4c21';
const SERVER_1 = '11111111-aaaa-4bbb-8ccc-000000000001';
const SERVER_2 = '22222222-aaaa-4bbb-8ccc-000000000002';
const SERVER_3 = '33333333-aaaa-4bbb-8ccc-000000000003';
const MESH_SIDECAR = { namespace: 'vm-ns', workloadGroup: 'vm-app', serviceAccount: 'vm-sa', vdus: ['VDU1', 'VDU2'] };

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

// ------------------------------------------------------------------ Tacker-shaped input

interface Vnfc {
  serverId: string;
  vduId: string;
  createdAt: string;
}

/** VnfcResourceInfoV2 as the OpenStack infra driver builds it: id and resourceId are the Nova server id. */
function vnfcResourceInfo(vnfc: Vnfc, index: number): JsonObject {
  return {
    id: vnfc.serverId,
    vduId: vnfc.vduId,
    computeResource: { vimConnectionId: 'vim-1', resourceId: vnfc.serverId, vimLevelResourceType: 'OS::Nova::Server' },
    vnfcCpInfo: [{ id: `${vnfc.vduId}_CP1-${vnfc.serverId}`, cpdId: `${vnfc.vduId}_CP1`, vnfExtCpId: `ext-cp-${index}` }],
    metadata: { creation_time: vnfc.createdAt, stack_id: `vnf-${VNF_INSTANCE_ID}/stack-1`, vdu_idx: index, flavor: 'm1.small' },
  };
}

function vnfInstance(vnfcs: Vnfc[] | undefined): JsonObject {
  const base: JsonObject = {
    id: VNF_INSTANCE_ID,
    vnfdId: VNFD_ID,
    vnfProvider: 'Company',
    vnfProductName: 'Sample VNF',
    vnfSoftwareVersion: '1.0',
    vnfdVersion: '1.0',
    instantiationState: vnfcs === undefined ? 'NOT_INSTANTIATED' : 'INSTANTIATED',
    vimConnectionInfo: { vim1: { vimId: 'vim-1', vimType: 'ETSINFV.OPENSTACK_KEYSTONE.V_3' } },
  };
  if (vnfcs === undefined) return base;
  return {
    ...base,
    instantiatedVnfInfo: {
      flavourId: 'simple',
      vnfState: 'STARTED',
      vnfcResourceInfo: vnfcs.map(vnfcResourceInfo),
      vnfcInfo: vnfcs.map((vnfc) => ({ id: `${vnfc.vduId}-${vnfc.serverId}`, vduId: vnfc.vduId, vnfcResourceInfoId: vnfc.serverId, vnfcState: 'STARTED' })),
      metadata: { stack_id: 'stack-1' },
    },
  };
}

/** ResourceDefinitionV1 of type COMPUTE: existing servers carry `resource`, new ones only a VDU name. */
function compute(vduId: string, serverId?: string): JsonObject {
  return {
    id: `grant-res-${vduId}-${serverId ?? 'new'}`,
    type: 'COMPUTE',
    resourceTemplateId: vduId,
    ...(serverId === undefined ? {} : { resource: { vimConnectionId: 'vim-1', resourceId: serverId, vimLevelResourceType: 'OS::Nova::Server' } }),
  };
}

function grantRequest(operation: string, resources: { add?: JsonObject[]; remove?: JsonObject[]; update?: JsonObject[] } = {}): JsonObject {
  return {
    vnfInstanceId: VNF_INSTANCE_ID,
    vnfLcmOpOccId: LCM_OP_OCC_ID,
    vnfdId: VNFD_ID,
    operation,
    isAutomaticInvocation: false,
    ...(resources.add === undefined ? {} : { addResources: resources.add }),
    ...(resources.remove === undefined ? {} : { removeResources: resources.remove }),
    ...(resources.update === undefined ? {} : { updateResources: resources.update }),
    _links: { vnfLcmOpOcc: { href: `http://tacker:9890/vnflcm/v2/vnf_lcm_op_occs/${LCM_OP_OCC_ID}` }, vnfInstance: { href: `http://tacker:9890/vnflcm/v2/vnf_instances/${VNF_INSTANCE_ID}` } },
  };
}

interface HookInput {
  hook: string;
  request: JsonObject;
  vnfcs?: Vnfc[];
  grant?: JsonObject | null;
  /** undefined: a Tacker that does not pass user_script_err_handling_data at all. */
  errData?: JsonObject;
}

/** The dict VnfLcmDriverV2._exec_mgmt_driver_script pickles onto the script's stdin. */
function scriptDict(input: HookInput): JsonObject {
  const grant = input.grant ?? null;
  return {
    operation: input.hook,
    request: input.request,
    vnf_instance: vnfInstance(input.vnfcs),
    grant_request: grant,
    grant_response: grant === null ? null : { id: 'grant-1', vnfInstanceId: VNF_INSTANCE_ID, vnfLcmOpOccId: LCM_OP_OCC_ID },
    tmp_csar_dir: '/tmp/tacker-csar-0001',
    ...(input.errData === undefined ? {} : { user_script_err_handling_data: input.errData }),
  };
}

function python(code: string, input: Buffer | string, args: string[] = []): Buffer {
  const result = spawnSync(PYTHON, ['-c', code, ...args], { input, maxBuffer: 16 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`python3 failed: ${result.stderr.toString()}`);
  return result.stdout;
}

const pickle = (value: Json): Buffer => python('import json, pickle, sys; sys.stdout.buffer.write(pickle.dumps(json.load(sys.stdin)))', JSON.stringify(value));

function unpickle(data: Buffer): Json {
  if (data.length === 0) return null;
  return JSON.parse(python('import json, pickle, sys; print(json.dumps(pickle.loads(sys.stdin.buffer.read())))', data).toString()) as Json;
}

// ------------------------------------------------------------------ the plugin's mgmt endpoint, as a test double

interface MgmtServer {
  serverId: string;
  vduId: string;
  action: 'inject' | 'remove';
}

interface MgmtRequest {
  hook: string;
  vnfInstanceId: string;
  vnfdId?: string;
  operation: string;
  servers: MgmtServer[];
  meshSidecar?: JsonObject;
}

interface Outcome {
  state: 'succeeded' | 'failed_temp' | 'failed';
  lastError?: { code: string; message: string };
  /** Polls answered with `running` before the final state. */
  runningPolls?: number;
}

interface FakeJob {
  id: string;
  server: MgmtServer;
  outcome: Outcome;
  polls: number;
}

function isMgmtRequest(value: unknown): value is MgmtRequest {
  const body = value as Partial<MgmtRequest> | null;
  return (
    typeof body === 'object' && body !== null &&
    typeof body.hook === 'string' && typeof body.vnfInstanceId === 'string' && typeof body.operation === 'string' &&
    Array.isArray(body.servers) &&
    body.servers.every((s) => typeof s.serverId === 'string' && typeof s.vduId === 'string' && (s.action === 'inject' || s.action === 'remove'))
  );
}

/** Implements POST /v1/tacker/mgmt and GET /v1/injections/{id} as the contract states, nothing more. */
class FakeMgmtPlugin {
  readonly posts: Array<{ authorization: string | undefined; contentType: string | undefined; body: MgmtRequest }> = [];
  readonly outcomes = new Map<string, Outcome>();
  /** Answers the next POSTs with this instead of creating jobs. */
  postAnswer: { status: number; body: JsonObject } | undefined;
  unauthorized = 0;
  private readonly jobs = new Map<string, FakeJob>();
  private server: Server | undefined;
  private port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  reset(): void {
    this.posts.length = 0;
    this.outcomes.clear();
    this.jobs.clear();
    this.postAnswer = undefined;
    this.unauthorized = 0;
  }

  pollsOf(serverId: string): number {
    return [...this.jobs.values()].filter((job) => job.server.serverId === serverId).reduce((sum, job) => sum + job.polls, 0);
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      this.unauthorized += 1;
      return send(res, 401, problem(401, 'A valid bearer token is required.'));
    }
    if (req.method === 'POST' && req.url === '/v1/tacker/mgmt') return this.accept(req, Buffer.concat(chunks), res);
    const match = /^\/v1\/injections\/([^/]+)$/.exec(req.url ?? '');
    if (req.method === 'GET' && match?.[1] !== undefined) return this.show(decodeURIComponent(match[1]), res);
    send(res, 404, problem(404, 'No such route.'));
  }

  private accept(req: IncomingMessage, raw: Buffer, res: ServerResponse): void {
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return send(res, 400, problem(400, 'The body is not JSON.'));
    }
    if (!isMgmtRequest(body)) return send(res, 400, problem(400, 'The body does not match the mgmt hook schema.'));
    this.posts.push({ authorization: req.headers.authorization, contentType: req.headers['content-type'], body });
    if (this.postAnswer !== undefined) return send(res, this.postAnswer.status, this.postAnswer.body);
    const jobs = body.servers.map((server) => {
      const job: FakeJob = { id: `job-${this.jobs.size + 1}`, server, outcome: this.outcomes.get(server.serverId) ?? { state: 'succeeded', runningPolls: 1 }, polls: 0 };
      this.jobs.set(job.id, job);
      return { id: job.id, serverId: server.serverId, action: server.action, state: 'pending' };
    });
    send(res, 202, { jobs });
  }

  private show(id: string, res: ServerResponse): void {
    const job = this.jobs.get(id);
    if (job === undefined) return send(res, 404, problem(404, `Job ${id} does not exist.`));
    job.polls += 1;
    const isFinal = job.polls > (job.outcome.runningPolls ?? 0);
    const state = isFinal ? job.outcome.state : 'running';
    const lastError = isFinal ? (job.outcome.lastError ?? null) : null;
    send(res, 200, { id, state, lastError, steps: [{ name: 'resolve', state: isFinal ? 'succeeded' : 'running' }] });
  }
}

function problem(status: number, detail: string): JsonObject {
  return { type: 'about:blank', title: 'Error', status, detail };
}

function send(res: ServerResponse, status: number, body: JsonObject): void {
  res.writeHead(status, { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json' }).end(JSON.stringify(body));
}

// ------------------------------------------------------------------ running the script

interface ScriptRun {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  elapsedMs: number;
}

interface Workspace {
  dir: string;
  tokenFile: string;
}

async function writeConfig(workspace: Workspace, config: JsonObject): Promise<string> {
  const file = path.join(workspace.dir, `config-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, JSON.stringify(config));
  return file;
}

async function runScript(input: Buffer, configFile: string): Promise<ScriptRun> {
  const started = Date.now();
  const child = spawn(PYTHON, [SCRIPT], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', VMSI_MGMT_CONFIG: configFile }, stdio: ['pipe', 'pipe', 'pipe'] });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.stdin.end(input);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const run = { code, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString('utf8'), elapsedMs: Date.now() - started };
  appendToRunLog('mgmt-driver stderr', run.stderr);
  appendToRunLog('mgmt-driver stdout (pickle, latin1)', run.stdout.toString('latin1'));
  // The token must never be printed, whatever happened.
  expect(run.stderr).not.to.include(TOKEN);
  expect(run.stdout.toString('latin1')).not.to.include(TOKEN);
  return run;
}

/** What the script handed back to Tacker as user_script_err_handling_data.vmsiSidecar. */
function returnedState(run: ScriptRun): JsonObject | undefined {
  const output = unpickle(run.stdout) as { user_script_err_handling_data?: { vmsiSidecar?: JsonObject } } | null;
  if (output !== null) expect(Object.keys(output)).to.deep.equal(['user_script_err_handling_data']);
  return output?.user_script_err_handling_data?.vmsiSidecar;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const twoVdus: Vnfc[] = [
  { serverId: SERVER_2, vduId: 'VDU2', createdAt: '2026-05-01T10:00:05Z' },
  { serverId: SERVER_1, vduId: 'VDU1', createdAt: '2026-05-01T10:00:00Z' },
];

describe('Tacker v2 mgmt-driver script (plugin-manifest/mgmt_driver/vmsi_mgmt_driver.py)', function () {
  this.timeout(20_000);
  const plugin = new FakeMgmtPlugin();
  let workspace: Workspace;
  let configFile: string;

  before(async () => {
    await plugin.start();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vmsi-mgmt-driver-'));
    workspace = { dir, tokenFile: path.join(dir, 'token') };
    await writeFile(workspace.tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    configFile = await writeConfig(workspace, { pluginUrl: plugin.url, tokenFile: workspace.tokenFile, timeoutSeconds: 10, pollIntervalSeconds: 0.05, connectRetrySeconds: 1 });
  });

  after(async () => {
    await plugin.stop();
    await rm(workspace.dir, { recursive: true, force: true });
  });

  beforeEach(() => plugin.reset());

  it('passes py_compile', () => {
    const compiled = path.join(workspace.dir, 'vmsi_mgmt_driver.pyc');
    const result = spawnSync(PYTHON, ['-c', 'import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)', SCRIPT, compiled]);
    expect(result.status, result.stderr.toString()).to.equal(0);
  });

  it('instantiate_end posts both VDUs for injection with the meshSidecar parameters and exits 0 when the jobs succeed', async () => {
    const input = scriptDict({ hook: 'instantiate_end', request: { flavourId: 'simple', additionalParams: { meshSidecar: MESH_SIDECAR, other: 'not forwarded' } }, vnfcs: twoVdus, grant: grantRequest('INSTANTIATE'), errData: {} });
    const run = await runScript(pickle(input), configFile);

    expect(run.code, run.stderr).to.equal(0);
    expect(run.stderr).to.equal('');
    expect(plugin.posts).to.have.length(1);
    expect(plugin.posts[0]?.authorization).to.equal(`Bearer ${TOKEN}`);
    expect(plugin.posts[0]?.contentType).to.equal('application/json');
    expect(plugin.posts[0]?.body).to.deep.equal({
      hook: 'instantiate_end',
      vnfInstanceId: VNF_INSTANCE_ID,
      vnfdId: VNFD_ID,
      operation: 'INSTANTIATE',
      servers: [
        { serverId: SERVER_2, vduId: 'VDU2', action: 'inject' },
        { serverId: SERVER_1, vduId: 'VDU1', action: 'inject' },
      ],
      meshSidecar: MESH_SIDECAR,
    });
    // Each job answered `running` once, then `succeeded`: the script waited for the final state.
    expect(plugin.pollsOf(SERVER_1)).to.equal(2);
    expect(plugin.pollsOf(SERVER_2)).to.equal(2);
    // Recorded for instantiate_rollback_start, which gets the instance as it was before.
    expect(returnedState(run)).to.deep.equal({ injected: [{ serverId: SERVER_1, vduId: 'VDU1' }, { serverId: SERVER_2, vduId: 'VDU2' }] });
  });

  it('a job that ends failed_temp fails the hook, naming the server and the reason on stderr', async () => {
    plugin.outcomes.set(SERVER_2, { state: 'failed_temp', lastError: { code: 'SSH_CONNECT_FAILED', message: 'ssh to 198.51.100.12:22: connection refused' } });
    const input = scriptDict({ hook: 'instantiate_end', request: { flavourId: 'simple', additionalParams: { meshSidecar: MESH_SIDECAR } }, vnfcs: twoVdus, grant: grantRequest('INSTANTIATE'), errData: {} });
    const run = await runScript(pickle(input), configFile);

    expect(run.code).to.equal(1);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines[0]).to.equal(`vmsi-sidecar-injector: instantiate_end for VNF instance ${VNF_INSTANCE_ID}: 1 of 2 servers not done`);
    expect(lines[1]).to.equal(`  server ${SERVER_2} (VDU2): inject failed_temp, job job-1: SSH_CONNECT_FAILED: ssh to 198.51.100.12:22: connection refused`);
    expect(lines[2]).to.equal(`  fix the cause, then: openstack vnflcm op retry ${LCM_OP_OCC_ID} --os-tacker-api-version 2`);
    expect(run.stderr).not.to.include(SERVER_1);
    // Still recorded, so a rollback cleans up the server that did get its sidecar.
    expect(returnedState(run)).to.have.property('injected').with.length(2);
  });

  it('terminate_start asks the plugin to remove every server of the instance', async () => {
    const remove = twoVdus.map((vnfc) => compute(vnfc.vduId, vnfc.serverId));
    const input = scriptDict({ hook: 'terminate_start', request: { terminationType: 'GRACEFUL' }, vnfcs: twoVdus, grant: grantRequest('TERMINATE', { remove }), errData: {} });
    const run = await runScript(pickle(input), configFile);

    expect(run.code, run.stderr).to.equal(0);
    expect(plugin.posts[0]?.body).to.deep.equal({
      hook: 'terminate_start',
      vnfInstanceId: VNF_INSTANCE_ID,
      vnfdId: VNFD_ID,
      operation: 'TERMINATE',
      servers: [
        { serverId: SERVER_2, vduId: 'VDU2', action: 'remove' },
        { serverId: SERVER_1, vduId: 'VDU1', action: 'remove' },
      ],
    });
  });

  it('scale_start for SCALE_IN removes exactly the servers in the grant request removeResources', async () => {
    const vnfcs = [{ serverId: SERVER_3, vduId: 'VDU1', createdAt: '2026-05-01T11:00:00Z' }, ...twoVdus];
    const input = scriptDict({ hook: 'scale_start', request: { type: 'SCALE_IN', aspectId: 'VDU1_scale', numberOfSteps: 1 }, vnfcs, grant: grantRequest('SCALE', { remove: [compute('VDU1', SERVER_3)] }), errData: {} });
    const run = await runScript(pickle(input), configFile);

    expect(run.code, run.stderr).to.equal(0);
    expect(plugin.posts[0]?.body.operation).to.equal('SCALE');
    expect(plugin.posts[0]?.body.servers).to.deep.equal([{ serverId: SERVER_3, vduId: 'VDU1', action: 'remove' }]);
  });

  it('scale_start for SCALE_OUT records the servers, so scale_end injects exactly the added one', async () => {
    const request = { type: 'SCALE_OUT', aspectId: 'VDU1_scale', numberOfSteps: 1, additionalParams: { meshSidecar: MESH_SIDECAR } };
    const grant = grantRequest('SCALE', { add: [compute('VDU1')] });
    const start = await runScript(pickle(scriptDict({ hook: 'scale_start', request, vnfcs: twoVdus, grant, errData: {} })), configFile);
    expect(start.code, start.stderr).to.equal(0);
    expect(plugin.posts).to.have.length(0);
    const recorded = returnedState(start);
    expect(recorded).to.deep.equal({ serversBefore: [SERVER_2, SERVER_1] });

    // Tacker merges the returned data and passes it to scale_end of the same operation.
    const after = [{ serverId: SERVER_3, vduId: 'VDU1', createdAt: '2026-05-01T09:00:00Z' }, ...twoVdus];
    const end = await runScript(pickle(scriptDict({ hook: 'scale_end', request, vnfcs: after, grant, errData: { vmsiSidecar: recorded ?? null } })), configFile);
    expect(end.code, end.stderr).to.equal(0);
    expect(plugin.posts[0]?.body.servers).to.deep.equal([{ serverId: SERVER_3, vduId: 'VDU1', action: 'inject' }]);
    expect(plugin.posts[0]?.body.meshSidecar).to.deep.equal(MESH_SIDECAR);
  });

  it('scale_end on a Tacker without user_script_err_handling_data injects the newest servers the grant added', async () => {
    const vnfcs = [
      { serverId: SERVER_1, vduId: 'VDU1', createdAt: '2026-05-01T10:00:00Z' },
      { serverId: SERVER_3, vduId: 'VDU1', createdAt: '2026-05-01T11:00:00Z' },
      { serverId: SERVER_2, vduId: 'VDU2', createdAt: '2026-05-01T11:30:00Z' },
    ];
    const input = scriptDict({ hook: 'scale_end', request: { type: 'SCALE_OUT', aspectId: 'VDU1_scale', numberOfSteps: 1 }, vnfcs, grant: grantRequest('SCALE', { add: [compute('VDU1')] }) });
    const run = await runScript(pickle(input), configFile);

    expect(run.code, run.stderr).to.equal(0);
    expect(plugin.posts[0]?.body.servers).to.deep.equal([{ serverId: SERVER_3, vduId: 'VDU1', action: 'inject' }]);
    expect(run.stdout.length, 'nothing on stdout for a Tacker that does not read it').to.equal(0);
  });

  it('heal_start removes the servers being healed and heal_end injects their replacements', async () => {
    const grant = grantRequest('HEAL', { remove: [compute('VDU1', SERVER_1)], add: [compute('VDU1')] });
    const request = { vnfcInstanceId: [`VDU1-${SERVER_1}`], cause: 'sidecar test' };
    const start = await runScript(pickle(scriptDict({ hook: 'heal_start', request, vnfcs: twoVdus, grant, errData: {} })), configFile);
    expect(start.code, start.stderr).to.equal(0);
    expect(plugin.posts[0]?.body.servers).to.deep.equal([{ serverId: SERVER_1, vduId: 'VDU1', action: 'remove' }]);

    const healed = [{ serverId: SERVER_3, vduId: 'VDU1', createdAt: '2026-05-01T12:00:00Z' }, twoVdus[0] as Vnfc];
    const end = await runScript(pickle(scriptDict({ hook: 'heal_end', request, vnfcs: healed, grant, errData: { vmsiSidecar: returnedState(start) ?? null } })), configFile);
    expect(end.code, end.stderr).to.equal(0);
    expect(plugin.posts[1]?.body.servers).to.deep.equal([{ serverId: SERVER_3, vduId: 'VDU1', action: 'inject' }]);
  });

  it('instantiate_rollback_start removes the servers recorded at instantiate_end, though the instance no longer lists them', async () => {
    const errData = { vmsiSidecar: { injected: [{ serverId: SERVER_1, vduId: 'VDU1' }, { serverId: SERVER_2, vduId: 'VDU2' }] } };
    const input = scriptDict({ hook: 'instantiate_rollback_start', request: { flavourId: 'simple' }, vnfcs: undefined, grant: grantRequest('INSTANTIATE'), errData });
    const run = await runScript(pickle(input), configFile);

    expect(run.code, run.stderr).to.equal(0);
    expect(plugin.posts[0]?.body.operation).to.equal('INSTANTIATE');
    expect(plugin.posts[0]?.body.servers).to.deep.equal([
      { serverId: SERVER_1, vduId: 'VDU1', action: 'remove' },
      { serverId: SERVER_2, vduId: 'VDU2', action: 'remove' },
    ]);
    expect(returnedState(run)).to.deep.equal({});
  });

  it('hooks with nothing to do exit 0 without calling the plugin', async () => {
    const cases: HookInput[] = [
      { hook: 'instantiate_start', request: { flavourId: 'simple' }, vnfcs: undefined, grant: grantRequest('INSTANTIATE'), errData: {} },
      { hook: 'terminate_end', request: { terminationType: 'FORCEFUL' }, vnfcs: undefined, grant: grantRequest('TERMINATE'), errData: {} },
      { hook: 'scale_end', request: { type: 'SCALE_IN', aspectId: 'VDU1_scale' }, vnfcs: twoVdus, grant: grantRequest('SCALE'), errData: {} },
      { hook: 'modify_information_end', request: { vnfInstanceName: 'renamed' }, vnfcs: twoVdus, grant: null, errData: {} },
      { hook: 'instantiate_rollback_start', request: { flavourId: 'simple' }, vnfcs: undefined, grant: grantRequest('INSTANTIATE'), errData: {} },
    ];
    for (const hookInput of cases) {
      const run = await runScript(pickle(scriptDict(hookInput)), configFile);
      expect(run.code, `${hookInput.hook}: ${run.stderr}`).to.equal(0);
    }
    expect(plugin.posts).to.have.length(0);
  });

  it('an unreachable plugin fails the hook with a clear message within the configured time', async () => {
    const unreachable = await writeConfig(workspace, { pluginUrl: `http://127.0.0.1:${await closedPort()}`, tokenFile: workspace.tokenFile, timeoutSeconds: 2, pollIntervalSeconds: 0.05, connectRetrySeconds: 1 });
    const input = scriptDict({ hook: 'instantiate_end', request: { flavourId: 'simple' }, vnfcs: twoVdus, grant: grantRequest('INSTANTIATE'), errData: {} });
    const run = await runScript(pickle(input), unreachable);

    expect(run.code).to.equal(1);
    expect(run.stderr).to.match(/^vmsi-sidecar-injector: the plugin at http:\/\/127\.0\.0\.1:\d+ could not be reached for 1s: Connection refused\n$/);
    expect(run.elapsedMs).to.be.below(4_000);
  });

  it('jobs still running at timeoutSeconds fail the hook and say which servers are not done', async () => {
    const slow = await writeConfig(workspace, { pluginUrl: plugin.url, tokenFile: workspace.tokenFile, timeoutSeconds: 1, pollIntervalSeconds: 0.1 });
    plugin.outcomes.set(SERVER_1, { state: 'succeeded', runningPolls: 1_000 });
    const input = scriptDict({ hook: 'instantiate_end', request: { flavourId: 'simple' }, vnfcs: twoVdus, grant: grantRequest('INSTANTIATE'), errData: {} });
    const run = await runScript(pickle(input), slow);

    expect(run.code).to.equal(1);
    expect(run.stderr).to.include('1 of 2 servers not done');
    expect(run.stderr).to.include(`server ${SERVER_1} (VDU1): inject running, job job-2: still running after 1s`);
    expect(run.elapsedMs).to.be.below(3_000);
  });

  it('reports a rejected request with the problem detail, and redacts the token even when the plugin echoes it', async () => {
    plugin.postAnswer = { status: 422, body: problem(422, `VDU3 is not in the VNFD (request carried ${TOKEN})`) };
    const input = scriptDict({ hook: 'instantiate_end', request: { flavourId: 'simple' }, vnfcs: twoVdus, grant: grantRequest('INSTANTIATE'), errData: {} });
    const run = await runScript(pickle(input), configFile);

    expect(run.code).to.equal(1);
    expect(run.stderr).to.equal('vmsi-sidecar-injector: the plugin rejected instantiate_end: HTTP 422: VDU3 is not in the VNFD (request carried [REDACTED])\n');
  });

  it('refuses a token file that group or others can read', async () => {
    const looseToken = path.join(workspace.dir, 'loose-token');
    await writeFile(looseToken, TOKEN);
    await chmod(looseToken, 0o644);
    const loose = await writeConfig(workspace, { pluginUrl: plugin.url, tokenFile: looseToken });
    const run = await runScript(pickle(scriptDict({ hook: 'instantiate_end', request: {}, vnfcs: twoVdus, grant: grantRequest('INSTANTIATE') })), loose);

    expect(run.code).to.equal(2);
    expect(run.stderr).to.equal(`vmsi-sidecar-injector: token file ${looseToken} is accessible by group or others (mode 0644); chmod 600 it\n`);
    expect(plugin.posts).to.have.length(0);
  });

  it('lists every config problem at once', async () => {
    const bad = await writeConfig(workspace, { pluginUrl: 'http://plugin.example.net:8080', timeoutSeconds: 0, pollIntervalSecs: 5 });
    const run = await runScript(pickle(scriptDict({ hook: 'instantiate_end', request: {}, vnfcs: twoVdus, grant: grantRequest('INSTANTIATE') })), bad);

    expect(run.code).to.equal(2);
    expect(run.stderr.split('\n')).to.deep.equal([
      `vmsi-sidecar-injector: config file ${bad} is invalid:`,
      '  pollIntervalSecs: unknown key (known: allowPlainHttp, caFile, connectRetrySeconds, pluginUrl, pollIntervalSeconds, requestTimeoutSeconds, timeoutSeconds, tokenFile)',
      '  tokenFile: required, a non-empty string',
      '  timeoutSeconds: must be a number of seconds > 0',
      '  pluginUrl: use https (or set allowPlainHttp: true)',
      '',
    ]);
  });
});

describe('Tacker-side manifests (plugin-manifest/)', () => {
  /** Vnflcm operations of tosca.interfaces.nfv.Vnflcm in the SOL001 v2.6.1 types Tacker ships. */
  const sol001Hooks = new Set(
    ['instantiate', 'terminate', 'modify_information', 'change_flavour', 'change_external_connectivity', 'operate', 'heal', 'scale', 'scale_to_level'].flatMap((op) => [op, `${op}_start`, `${op}_end`]),
  );

  it('the VNFD snippet wires every hook the script acts on to a Python artifact, declaring the non-SOL001 ones', async () => {
    const snippet = parseYaml(await readFile(VNFD_SNIPPET, 'utf8')) as {
      interface_types: Record<string, Record<string, unknown> & { derived_from: string }>;
      node_types: Record<string, { interfaces: { Vnflcm: { type: string } } }>;
      topology_template: { node_templates: { VNF: { interfaces: { Vnflcm: Record<string, { implementation: string }> }; artifacts: Record<string, { type: string; file: string }> } } };
    };
    const vnf = snippet.topology_template.node_templates.VNF;
    const hooks = vnf.interfaces.Vnflcm;
    for (const [hook, operation] of Object.entries(hooks)) {
      const artifact = vnf.artifacts[operation.implementation];
      expect(artifact?.type, hook).to.equal('tosca.artifacts.Implementation.Python');
      expect(artifact?.file, hook).to.equal('../Scripts/vmsi_mgmt_driver.py');
    }
    const [typeName, interfaceType] = Object.entries(snippet.interface_types)[0] ?? [];
    expect(interfaceType?.derived_from).to.equal('tosca.interfaces.nfv.Vnflcm');
    expect(Object.values(snippet.node_types)[0]?.interfaces.Vnflcm.type).to.equal(typeName);
    for (const hook of Object.keys(hooks).filter((name) => !sol001Hooks.has(name))) expect(interfaceType, `${hook} is declared`).to.have.property(hook);

    // Every hook with a plan in the script is wired (the change_vnfpkg_* spelling is for older Tacker).
    const loadPlans = 'import importlib.util, json, sys; s = importlib.util.spec_from_file_location("m", sys.argv[1]); m = importlib.util.module_from_spec(s); s.loader.exec_module(m); print(json.dumps(sorted(m.PLANS)))';
    const planned = JSON.parse(python(loadPlans, '', [SCRIPT]).toString()) as string[];
    expect(Object.keys(hooks)).to.include.members(planned.filter((hook) => !hook.startsWith('change_vnfpkg_')));
  });

  for (const version of ['v1', 'v2'] as const) {
    it(`the ${version} subscription templates filter completed LCM operations and carry BASIC and OAUTH2_CLIENT_CREDENTIALS variants`, async () => {
      const variants = JSON.parse(await readFile(path.join(SUBSCRIPTIONS, `lccn-subscription-${version}.json`), 'utf8')) as Record<string, JsonObject>;
      expect(Object.keys(variants).sort()).to.deep.equal(['BASIC', 'OAUTH2_CLIENT_CREDENTIALS']);
      for (const [authType, request] of Object.entries(variants)) {
        const { filter, callbackUri, authentication } = request as { filter: JsonObject; callbackUri: string; authentication: { authType: string[] } & JsonObject };
        expect(filter.notificationTypes).to.deep.equal(['VnfLcmOperationOccurrenceNotification']);
        expect(filter.operationStates).to.deep.equal(['COMPLETED']);
        expect(filter.operationTypes).to.deep.equal(['INSTANTIATE', 'SCALE', 'SCALE_TO_LEVEL', 'HEAL', 'CHANGE_EXT_CONN', 'CHANGE_VNFPKG', 'TERMINATE']);
        expect(callbackUri.length).to.be.at.most(255);
        expect(authentication.authType).to.deep.equal([authType]);
        expect(authentication).to.have.property(authType === 'BASIC' ? 'paramsBasic' : 'paramsOauth2ClientCredentials');
        if (version === 'v2') expect(request.verbosity).to.equal('FULL');
        else expect(request).not.to.have.property('verbosity');
      }
    });
  }
});
