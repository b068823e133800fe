import { expect } from 'chai';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseInjectionSpec } from '../injection-spec.js';
import { FileMeshRegistry } from './file-mesh-registry.js';
import { buildWorkloadEntry, buildWorkloadGroup } from './workload-objects.js';
import { assertValidIstioObject } from '../../test/support/istio-crd-validator.js';
import { validSpecInput } from '../../test/support/spec-fixtures.js';
import { rejection } from '../../test/support/app-error-assertions.js';

const base = validSpecInput();
const spec = parseInjectionSpec({ ...base, mesh: { ...base.mesh, ports: { http: 8080 }, labels: { app: 'vm-app', version: 'true' } } });
const group = buildWorkloadGroup(spec);
const entry = buildWorkloadEntry(spec, { vnfInstanceId: 'c1b2d3e4-0000-4000-8000-00000000abcd' });

describe('FileMeshRegistry', function () {
  let dir: string;
  let registry: FileMeshRegistry;
  const groupFile = (): string => path.join(dir, 'registry', 'vm-ns', 'workloadgroup-vm-app.yaml');
  const entryFile = (): string => path.join(dir, 'registry', 'vm-ns', `workloadentry-${entry.metadata.name}.yaml`);

  beforeEach(async function () {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmsi-registry-'));
    registry = new FileMeshRegistry(path.join(dir, 'registry'));
  });

  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a WorkloadGroup once and then reports it exists without rewriting it', async function () {
    expect(await registry.ensureWorkloadGroup(group)).to.equal('created');
    await writeFile(groupFile(), '# edited by an operator\n');
    const before = await stat(groupFile());
    expect(await registry.ensureWorkloadGroup(group)).to.equal('exists');
    expect(await readFile(groupFile(), 'utf8')).to.equal('# edited by an operator\n');
    expect((await stat(groupFile())).mtimeMs).to.equal(before.mtimeMs);
  });

  it('writes manifests kubectl can apply: valid for the CRD, sorted keys, 0644 files in 0755 folders', async function () {
    await registry.ensureWorkloadGroup(group);
    await registry.applyWorkloadEntry(entry);
    const text = await readFile(entryFile(), 'utf8');
    const parsed: unknown = parseYaml(text, { version: '1.1' });
    assertValidIstioObject(parsed);
    assertValidIstioObject(parseYaml(await readFile(groupFile(), 'utf8'), { version: '1.1' }));
    expect(text.split('\n').filter((line) => /^\S/.test(line))).to.deep.equal(['apiVersion: networking.istio.io/v1', 'kind: WorkloadEntry', 'metadata:', 'spec:']);
    expect(text).to.include('version: "true"');
    expect((await stat(entryFile())).mode & 0o777).to.equal(0o644);
    expect((await stat(groupFile())).mode & 0o777).to.equal(0o644);
    expect((await stat(path.dirname(entryFile()))).mode & 0o777).to.equal(0o755);
    expect((await stat(path.join(dir, 'registry'))).mode & 0o777).to.equal(0o755);
  });

  it('applies an entry as created, then unchanged without touching the file, then updated', async function () {
    expect(await registry.applyWorkloadEntry(entry)).to.equal('created');
    const before = await stat(entryFile());
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await registry.applyWorkloadEntry(structuredClone(entry))).to.equal('unchanged');
    const after = await stat(entryFile());
    expect([after.mtimeMs, after.ino]).to.deep.equal([before.mtimeMs, before.ino]);

    const moved = { ...entry, spec: { ...entry.spec, ports: { http: 9090 } } };
    expect(await registry.applyWorkloadEntry(moved)).to.equal('updated');
    expect(await registry.getWorkloadEntry('vm-ns', entry.metadata.name)).to.deep.equal(moved);
  });

  it('round-trips the entry content exactly', async function () {
    await registry.applyWorkloadEntry(entry);
    expect(await registry.getWorkloadEntry('vm-ns', entry.metadata.name)).to.deep.equal(entry);
    expect(await registry.getWorkloadEntry('vm-ns', 'vm-app-198.51.100.99')).to.equal(undefined);
  });

  it('round-trips an IPv6 address that YAML 1.1 would otherwise read as a base-60 number', async function () {
    const v6 = buildWorkloadEntry(parseInjectionSpec({ ...base, vm: { ...base.vm, address: '1:2:3:4:5:6:7:8' } }));
    await registry.applyWorkloadEntry(v6);
    expect((await registry.getWorkloadEntry('vm-ns', 'vm-app-1-2-3-4-5-6-7-8'))?.spec.address).to.equal('1:2:3:4:5:6:7:8');
  });

  it('deletes an entry, then reports it absent; the group stays', async function () {
    await registry.ensureWorkloadGroup(group);
    await registry.applyWorkloadEntry(entry);
    expect(await registry.deleteWorkloadEntry('vm-ns', entry.metadata.name)).to.equal('deleted');
    expect(await registry.deleteWorkloadEntry('vm-ns', entry.metadata.name)).to.equal('absent');
    expect(await registry.getWorkloadEntry('vm-ns', entry.metadata.name)).to.equal(undefined);
    expect(await readdir(path.dirname(entryFile()))).to.deep.equal(['workloadgroup-vm-app.yaml']);
  });

  it('leaves no temporary files behind, also when the group already exists', async function () {
    await registry.ensureWorkloadGroup(group);
    await registry.ensureWorkloadGroup(group);
    await registry.applyWorkloadEntry(entry);
    await registry.applyWorkloadEntry({ ...entry, spec: { ...entry.spec, network: 'n2' } });
    await Promise.all([registry.applyWorkloadEntry(entry), registry.applyWorkloadEntry(entry)]);
    expect((await readdir(path.dirname(entryFile()))).sort()).to.deep.equal([path.basename(entryFile()), 'workloadgroup-vm-app.yaml']);
  });

  it('refuses names that are not Kubernetes names, so nothing escapes the folder', async function () {
    const error = await rejection(registry.deleteWorkloadEntry('vm-ns', '../../etc/passwd'));
    expect(error.code).to.equal('REGISTRY_FAILED');
    expect(error.retryable).to.equal(false);
    await rejection(registry.getWorkloadEntry('../x', 'a'));
  });

  it('reports a misconfigured folder as a non-retryable REGISTRY_FAILED', async function () {
    await writeFile(path.join(dir, 'registry'), 'a file where the folder should be\n');
    const error = await rejection(registry.applyWorkloadEntry(entry));
    expect(error.code).to.equal('REGISTRY_FAILED');
    expect(error.retryable).to.equal(false);
    expect(error.details).to.include({ errno: 'ENOTDIR', operation: 'write' });
  });

  it('reports a file that is not a manifest as REGISTRY_FAILED', async function () {
    await registry.applyWorkloadEntry(entry);
    await writeFile(entryFile(), 'kind: [unterminated\n');
    expect((await rejection(registry.getWorkloadEntry('vm-ns', entry.metadata.name))).code).to.equal('REGISTRY_FAILED');
  });
});
