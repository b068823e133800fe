import { expect } from 'chai';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { validateWithCloudInitSchema } from '../support/cloud-init-schema.js';
import { appendToRunLog } from '../support/run-log.js';
import { validSpecInput } from '../support/spec-fixtures.js';
import { writeFileMeshCredentials } from '../support/data-dir-fixture.js';
import { TEST_TOKEN_MARKER, makeTestToken } from '../support/test-credentials.js';
import { runVmsi, spawnVmsi } from '../support/vmsi-cli.js';

/** A data folder laid out as the file credentials adapter documents it. */
function makeDataDir(): string {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-cli-'));
  writeFileMeshCredentials(dataDir, { trustDomain: 'example.org', clusterId: 'cluster1' });
  return dataDir;
}

describe('vmsi CLI', function () {
  this.timeout(60_000);
  let dataDir: string;
  let specFile: string;
  beforeEach(function () {
    dataDir = makeDataDir();
    specFile = path.join(dataDir, 'spec.yaml');
    writeFileSync(specFile, stringify(validSpecInput()));
  });
  afterEach(function () {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('render writes the bundle with Istio modes from file credentials', async function () {
    const out = path.join(dataDir, 'out');
    const result = await runVmsi(['render', '--spec', specFile, '--out', out], { env: { VMSI_DATA_DIR: dataDir } });
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.include('spiffe://example.org/ns/vm-ns/sa/vm-sa');
    expect(result.stdout).not.to.include(TEST_TOKEN_MARKER);
    expect(readdirSync(out).sort()).to.deep.equal(['cluster.env', 'hosts', 'injector.env', 'install-sidecar.sh', 'istio-token', 'mesh.yaml', 'root-cert.pem']);
    expect(statSync(path.join(out, 'istio-token')).mode & 0o777).to.equal(0o400);
    expect(statSync(path.join(out, 'install-sidecar.sh')).mode & 0o777).to.equal(0o700);
    expect(statSync(out).mode & 0o777).to.equal(0o700);
    expect(readFileSync(path.join(out, 'cluster.env'), 'utf8')).to.include('TRUST_DOMAIN=example.org\n');
    expect(readFileSync(path.join(out, 'mesh.yaml'), 'utf8')).to.include('ISTIO_META_CLUSTER_ID: cluster1');
  });

  it('render --cloud-init writes user-data that cloud-init schema accepts', async function () {
    const out = path.join(dataDir, 'out');
    const result = await runVmsi(['render', '--spec', specFile, '--out', out, '--cloud-init', '--mask-secrets'], { env: { VMSI_DATA_DIR: dataDir } });
    expect(result.code, result.stderr).to.equal(0);
    const userData = readFileSync(path.join(out, 'user-data'), 'utf8');
    expect(userData).not.to.include(TEST_TOKEN_MARKER);
    await validateWithCloudInitSchema(userData);
  });

  it('render exits 2 and lists every problem of a bad spec', async function () {
    writeFileSync(specFile, stringify({ vm: { name: 'x', address: '1.2.3' }, mesh: { namespace: 'NS' }, package: {} }));
    const result = await runVmsi(['render', '--spec', specFile, '--out', path.join(dataDir, 'out')], { env: { VMSI_DATA_DIR: dataDir } });
    expect(result.code).to.equal(2);
    expect(result.stderr).to.include('INVALID_SPEC');
    for (const field of ['vm.address', 'mesh.namespace', 'mesh.workloadGroup', 'package.source']) expect(result.stderr).to.include(field);
  });

  it('render --json and config check --json print JSON; a failure under --json is one JSON problem with a hint', async function () {
    const out = path.join(dataDir, 'out');
    const rendered = await runVmsi(['render', '--spec', specFile, '--out', out, '--mask-secrets', '--json'], { env: { VMSI_DATA_DIR: dataDir } });
    expect(rendered.code, rendered.stderr).to.equal(0);
    const summary = JSON.parse(rendered.stdout) as { spiffeId: string; liveToken: boolean; files: Array<{ name: string; mode: string }> };
    expect(summary).to.include({ spiffeId: 'spiffe://example.org/ns/vm-ns/sa/vm-sa', liveToken: false });
    expect(summary.files).to.deep.include({ name: 'istio-token', mode: '0400' });
    const config = await runVmsi(['config', 'check', '--json'], { env: { VMSI_DATA_DIR: dataDir } });
    expect(config.code, config.stderr).to.equal(0);
    expect((JSON.parse(config.stdout) as { http: { port: number } }).http.port).to.equal(8080);
    writeFileSync(specFile, stringify({ vm: { name: 'x' } }));
    const failed = await runVmsi(['render', '--spec', specFile, '--out', out, '--json'], { env: { VMSI_DATA_DIR: dataDir } });
    expect(failed.code).to.equal(2);
    const problem = JSON.parse(failed.stderr) as { code: string; hint: string; problems: unknown[] };
    expect(problem.code).to.equal('INVALID_SPEC');
    expect(problem.hint).to.include('injection-spec.schema.json');
    expect(problem.problems).to.not.be.empty;
  });

  it('render refuses a token minted for another service account', async function () {
    writeFileSync(path.join(dataDir, 'mesh-credentials', 'tokens', 'vm-ns', 'vm-sa.jwt'), makeTestToken('vm-ns', 'someone-else'));
    const result = await runVmsi(['render', '--spec', specFile, '--out', path.join(dataDir, 'out')], { env: { VMSI_DATA_DIR: dataDir } });
    expect(result.code).to.equal(2);
    expect(result.stderr).to.include('MESH_INCONSISTENT');
    expect(result.stderr).not.to.include(TEST_TOKEN_MARKER);
  });

  it('config check prints the effective config and exits 2 on a bad one', async function () {
    const good = await runVmsi(['config', 'check'], { env: { VMSI_DATA_DIR: dataDir } });
    expect(good.code).to.equal(0);
    expect(good.stdout).to.include('port: 8080');
    const configFile = path.join(dataDir, 'bad.yaml');
    writeFileSync(configFile, 'http:\n  port: "eighty"\n');
    const bad = await runVmsi(['--config', configFile, 'config', 'check']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.include('http.port');
    expect(bad.stderr).to.match(/^ {2}hint: .*vmsi doctor/m);
  });

  it('serve starts on embedded defaults, requires its generated token, and stops on SIGTERM', async function () {
    const child = spawnVmsi(['serve'], { VMSI_DATA_DIR: dataDir, VMSI_HTTP_PORT: '0' });
    let stderr = '';
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`service did not start: ${stderr}`)), 20_000);
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const match = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(stderr);
        if (match?.[1]) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
    });
    try {
      const token = readFileSync(path.join(dataDir, 'api-token'), 'utf8').trim();
      expect(statSync(path.join(dataDir, 'api-token')).mode & 0o777).to.equal(0o600);
      expect((await fetch(`${url}/healthz`)).status).to.equal(401);
      expect((await fetch(`${url}/healthz`, { headers: { authorization: `Bearer ${token}` } })).status).to.equal(200);
      expect(stderr).not.to.include(token);
    } finally {
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).to.equal(0);
      appendToRunLog('vmsi serve', stderr);
    }
  });
});
