import { expect } from 'chai';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AppError } from '../../errors.js';
import { loadKubeConfig } from './kube-config.js';

function failure(action: () => unknown): AppError {
  try {
    action();
  } catch (error) {
    expect(error).to.be.instanceOf(AppError);
    return error as AppError;
  }
  throw new Error('expected the call to fail');
}

const kubeconfig = {
  apiVersion: 'v1',
  kind: 'Config',
  clusters: [
    { name: 'a', cluster: { server: 'https://a.example.net:6443' } },
    { name: 'b', cluster: { server: 'https://b.example.net:6443' } },
  ],
  users: [{ name: 'u', user: { token: 'not-a-real-token' } }],
  contexts: [
    { name: 'ctx-a', context: { cluster: 'a', user: 'u' } },
    { name: 'ctx-b', context: { cluster: 'b', user: 'u' } },
  ],
  'current-context': 'ctx-a',
};

describe('loadKubeConfig', function () {
  let dir: string;
  let file: string;

  beforeEach(async function () {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmsi-kubeconfig-'));
    file = path.join(dir, 'config');
    await writeFile(file, JSON.stringify(kubeconfig));
  });

  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it('uses the current context of the file, or the one named', function () {
    expect(loadKubeConfig({ kind: 'kubeconfig', file }).getCurrentCluster()?.server).to.equal('https://a.example.net:6443');
    expect(loadKubeConfig({ kind: 'kubeconfig', file, context: 'ctx-b' }).getCurrentCluster()?.server).to.equal('https://b.example.net:6443');
  });

  it('names the known contexts when the one asked for is missing', function () {
    const error = failure(() => loadKubeConfig({ kind: 'kubeconfig', file, context: 'ctx-c' }));
    expect(error.code).to.equal('INVALID_CONFIG');
    expect(error.details).to.deep.include({ contexts: ['ctx-a', 'ctx-b'] });
  });

  it('reports a missing kubeconfig file as a configuration problem', function () {
    expect(failure(() => loadKubeConfig({ kind: 'kubeconfig', file: path.join(dir, 'absent') })).code).to.equal('INVALID_CONFIG');
  });

  it('builds the in-cluster configuration from the service account folder', async function () {
    const accountDir = path.join(dir, 'var/run/secrets/kubernetes.io/serviceaccount');
    await mkdir(accountDir, { recursive: true });
    await writeFile(path.join(accountDir, 'namespace'), 'vmsi');
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    process.env.KUBERNETES_SERVICE_HOST = '10.96.0.1';
    process.env.KUBERNETES_SERVICE_PORT = '443';
    try {
      const config = loadKubeConfig({ kind: 'in-cluster', rootDir: dir });
      expect(config.getCurrentCluster()?.server).to.equal('https://10.96.0.1:443');
      delete process.env.KUBERNETES_SERVICE_HOST;
      expect(failure(() => loadKubeConfig({ kind: 'in-cluster', rootDir: dir })).code).to.equal('INVALID_CONFIG');
    } finally {
      restore('KUBERNETES_SERVICE_HOST', saved.host);
      restore('KUBERNETES_SERVICE_PORT', saved.port);
    }
  });
});

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
