import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { writeFileMeshCredentials } from '../support/data-dir-fixture.js';
import { freePort } from '../support/lab-vm-provider.js';
import { runChecked } from '../support/lab/run-command.js';
import { appendToRunLog } from '../support/run-log.js';
import { validSpecInput } from '../support/spec-fixtures.js';
import { PROJECT_ROOT } from '../support/vmsi-cli.js';

interface OciImageConfig {
  config: { User: string; Entrypoint: string[]; Cmd: string[]; Env: string[]; WorkingDir: string; Volumes: Record<string, object>; ExposedPorts: Record<string, object> };
}

/** The image's config blob, found as a registry would: index → manifest → config. */
function imageConfig(layout: string): OciImageConfig {
  const blob = (digest: string): string => readFileSync(path.join(layout, 'blobs', ...digest.split(':')), 'utf8');
  const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations: Record<string, string> }> };
  const manifest = JSON.parse(blob((index.manifests[0] as { digest: string }).digest)) as { config: { digest: string } };
  return JSON.parse(blob(manifest.config.digest)) as OciImageConfig;
}

function userNameOf(rootfs: string, uid: string): string {
  const line = readFileSync(path.join(rootfs, 'etc/passwd'), 'utf8').split('\n').find((entry) => entry.split(':')[2] === uid);
  if (line === undefined) throw new Error(`uid ${uid} is not in the image's /etc/passwd`);
  return line.split(':')[0] as string;
}

async function waitForHealthz(url: string, tokenFile: string, child: ChildProcess, output: () => string): Promise<Response> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the container exited ${child.exitCode}: ${output()}`);
    try {
      return await fetch(`${url}/healthz`, { headers: { authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}` } });
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  throw new Error(`no answer on ${url}/healthz: ${output()}`);
}

/**
 * The OCI image built by scripts/build-dist.sh, unpacked with umoci and run as its config says
 * (user, entrypoint, environment, working directory, the one volume) under systemd-nspawn with a
 * read-only root: podman's runtime stack is not on these machines, nspawn is (DESIGN.md §8).
 */
describe('container image (scripts/build-dist.sh image), run from its unpacked root', function () {
  this.timeout(15 * 60_000);
  let work: string;
  let rootfs: string;
  let config: OciImageConfig['config'];
  let container: ChildProcess | undefined;

  before(async function () {
    work = mkdtempSync('/var/tmp/vmsi-image-test-');
    await runChecked('bash', [path.join(PROJECT_ROOT, 'scripts/build-dist.sh'), 'image', path.join(work, 'layout')], { timeoutMs: 12 * 60_000 });
    config = imageConfig(path.join(work, 'layout')).config;
    await runChecked('umoci', ['unpack', '--image', `${path.join(work, 'layout')}:vm-sidecar-injector:0.1.0`, path.join(work, 'bundle')], { timeoutMs: 5 * 60_000 });
    rootfs = path.join(work, 'bundle', 'rootfs');
  });
  after(async function () {
    if (container !== undefined && container.exitCode === null) {
      const exited = new Promise((resolve) => container?.once('exit', resolve));
      container.kill('SIGTERM');
      await exited;
    }
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('declares a non-root user, one data volume and the pinned Node 24 as its entrypoint', function () {
    expect(config.User).to.equal('10001:10001');
    expect(Object.keys(config.Volumes)).to.deep.equal(['/var/lib/vmsi']);
    expect(config.WorkingDir).to.equal('/var/lib/vmsi');
    expect(config.Entrypoint).to.deep.equal(['/opt/vmsi/bin/node', '/opt/vmsi/dist/cli/vmsi.js']);
    expect(config.Cmd).to.deep.equal(['serve']);
    expect(config.Env).to.include.members(['VMSI_DATA_DIR=/var/lib/vmsi', 'VMSI_HTTP_HOST=0.0.0.0']);
    expect(Object.keys(config.ExposedPorts)).to.deep.equal(['8080/tcp']);
    // The service user owns only its volume: the code it runs is root's and read-only to it.
    expect(statSync(path.join(rootfs, 'opt/vmsi/dist/cli/vmsi.js')).uid).to.equal(0);
    expect(statSync(path.join(rootfs, 'opt/vmsi/dist')).mode & 0o022).to.equal(0);
    expect(statSync(path.join(rootfs, 'var/lib/vmsi')).uid).to.equal(10001);
    // No development packages and no second Node in the image.
    expect(readdirSync(path.join(rootfs, 'opt/vmsi/node_modules'))).to.include.members(['express', 'ssh2', 'winston']).and.not.include.members(['mocha', 'eslint', 'typescript', 'node']);
  });

  it('serves /healthz and an authenticated render as its own user on a read-only root, state only in the volume', async function () {
    const data = path.join(work, 'data');
    mkdirSync(data, { mode: 0o700 });
    writeFileMeshCredentials(data);
    for (const entry of [data, ...readdirSync(data, { recursive: true }).map((name) => path.join(data, String(name)))]) chownSync(entry, 10001, 10001);
    const port = await freePort();
    const [uid] = config.User.split(':');
    const [volume] = Object.keys(config.Volumes) as [string];
    // Host networking for the test; the image's 0.0.0.0 would expose the port beyond loopback here.
    const env = [...config.Env.filter((entry) => !entry.startsWith('PATH=')), 'VMSI_HTTP_HOST=127.0.0.1', `VMSI_HTTP_PORT=${port}`];
    const args = ['--quiet', '--register=no', '--keep-unit', `--directory=${rootfs}`, '--read-only', '--as-pid2', '--console=pipe', '--resolv-conf=off', '--timezone=off', '--link-journal=no',
      `--user=${userNameOf(rootfs, uid as string)}`, `--chdir=${config.WorkingDir}`, '--no-new-privileges=yes', `--bind=${data}:${volume}`, ...env.map((entry) => `--setenv=${entry}`), ...config.Entrypoint, ...config.Cmd];
    let output = '';
    container = spawn('systemd-nspawn', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    container.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    container.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const url = `http://127.0.0.1:${port}`;
    const tokenFile = path.join(data, 'api-token');
    try {
      const health = await waitForHealthz(url, tokenFile, container, () => output);
      expect(health.status).to.equal(200);
      const anonymous = await fetch(`${url}/v1/render`, { method: 'POST' });
      expect(anonymous.status).to.equal(401);
      const render = await fetch(`${url}/v1/render`, {
        method: 'POST',
        headers: { authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}`, 'content-type': 'application/yaml' },
        body: stringify(validSpecInput()),
      });
      const body = (await render.json()) as { identity: { spiffeId: string }; files: Array<{ name: string }> };
      expect(render.status, JSON.stringify(body)).to.equal(200);
      expect(body.identity.spiffeId).to.equal('spiffe://cluster.local/ns/vm-ns/sa/vm-sa');
      expect(body.files.map((file) => file.name)).to.include.members(['cluster.env', 'mesh.yaml', 'root-cert.pem', 'install-sidecar.sh']);
      // What the service wrote is in the volume and belongs to the image's user, not root.
      expect(statSync(tokenFile).uid).to.equal(10001);
      expect(statSync(path.join(data, 'jobs.sqlite')).uid).to.equal(10001);
    } finally {
      appendToRunLog('container image: vmsi serve', output);
    }
  });

  it('has a root the service cannot write to', async function () {
    const probe = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn('systemd-nspawn', ['--quiet', '--register=no', '--keep-unit', `--directory=${rootfs}`, '--read-only', '--as-pid2', '--console=pipe', '--resolv-conf=off', '--timezone=off', '--user=vmsi',
        '/opt/vmsi/bin/node', '-e', "try { require('fs').writeFileSync('/opt/vmsi/x', ''); } catch (e) { console.log(e.code); process.exit(3); }"], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.on('exit', (code) => resolve({ code, output }));
    });
    expect(probe.code).to.equal(3);
    expect(probe.output.trim()).to.be.oneOf(['EROFS', 'EACCES']);
  });
});
