import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { runVmsi } from '../support/vmsi-cli.js';

const DESCRIPTOR = `apiVersion: vmsi.dev/v1alpha1
kind: MeshService
metadata: { name: shop }
spec:
  microservices:
    - { name: frontend, kind: container, version: v1, image: registry.example/frontend:1.2, ports: [{ name: http, port: 8080, protocol: HTTP }] }
    - name: catalog-cnf
      service: catalog
      kind: container
      version: v2
      image: registry.example/catalog:2.0
      via: tacker
      tacker: { vnfdId: cnf-vnfd, flavourId: simple, vimId: k8s-vim, vduId: VDU1 }
      ports: [{ name: http, port: 8080, protocol: HTTP }]
`;

describe('vmsi orchestrator cnf-files', function () {
  let dir: string;

  beforeEach(function () {
    dir = mkdtempSync(path.join(tmpdir(), 'vmsi-cnf-files-'));
  });

  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes the Deployment of each via: tacker microservice where its CNF package keeps it, and nothing for the others', async function () {
    const descriptorFile = path.join(dir, 'shop.yaml');
    writeFileSync(descriptorFile, DESCRIPTOR);
    const out = path.join(dir, 'packages');
    const result = await runVmsi(['orchestrator', 'cnf-files', descriptorFile, '--out', out, '--json']);
    expect(result.code, result.stderr).to.equal(0);
    const expected = path.join(out, 'catalog-cnf', 'Files', 'kubernetes', 'catalog-cnf-deployment.yaml');
    expect(JSON.parse(result.stdout)).to.deep.equal({ files: [{ microservice: 'catalog-cnf', vnfdId: 'cnf-vnfd', file: expected }] });
    const manifest = parseYaml(readFileSync(expected, 'utf8')) as { kind: string; metadata: { name: string; namespace: string } };
    expect(manifest).to.deep.include({ kind: 'Deployment' });
    expect(manifest.metadata).to.include({ name: 'catalog-cnf', namespace: 'shop' });
  });

  it('refuses an invalid descriptor with its problems', async function () {
    const descriptorFile = path.join(dir, 'bad.yaml');
    writeFileSync(descriptorFile, DESCRIPTOR.replace('via: tacker\n', 'via: tacker\n      replicas: 0\n'));
    const result = await runVmsi(['orchestrator', 'cnf-files', descriptorFile, '--out', path.join(dir, 'packages')]);
    expect(result.code).to.not.equal(0);
    expect(result.stderr).to.include('spec.microservices.1.replicas');
  });
});
