import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startKubernetesSimulator, type KubernetesSimulator } from './k8s-sim/kubernetes-simulator.js';
import { CloudModel } from './openstack-sim/cloud-model.js';
import { startOpenStackSimulator, type OpenStackSimulator } from './openstack-sim/openstack-simulator.js';
import { ServiceProcess, type ServiceProcessOptions } from './service-process.js';
import { startTackerSimulator, type TackerSimulator } from './tacker-sim/tacker-simulator.js';

export const FULL_SERVICE_CALLBACK_PASSWORD = 'full-service-callback-password-0123';
export const FULL_SERVICE_EVENT_SECRET = 'full-service-event-secret-0123456789abc';
/** No SSH server listens here: injections fail to connect at once, and end failed_temp within seconds. */
export const CLOSED_SSH_PORT = 1;

export interface FullService {
  service: ServiceProcess;
  cloud: CloudModel;
  kube: KubernetesSimulator;
  openstack: OpenStackSimulator;
  tacker: TackerSimulator;
  /** A real ed25519 key the service holds as secret `lab-key` (it never reaches a VM here). */
  keyFile: string;
  basicAuthorization: string;
  close(): Promise<void>;
}

/**
 * `vmsi serve` with every optional part mounted (Tacker plugin, orchestrator, Kubernetes) against the
 * in-process simulators, and no VM: for tests of the API surface rather than of an installation.
 */
export async function startFullService(options: { extraConfig?: Record<string, unknown>; webhook?: ServiceProcessOptions['webhook'] } = {}): Promise<FullService> {
  const keyDir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-full-service-'));
  const keyFile = path.join(keyDir, 'key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
  const kube = await startKubernetesSimulator();
  const cloud = new CloudModel();
  const openstack = await startOpenStackSimulator({ cloud });
  const vms = { create: (): Promise<never> => Promise.reject(new Error('this service creates no VMs')), destroy: (): Promise<void> => Promise.resolve() };
  const tacker = await startTackerSimulator({ cloud, vms, keystone: { validateToken: (token) => openstack.isTokenValid(token) } });
  openstack.setTackerUrl(tacker.url);
  const credential = openstack.credentials.applicationCredentialById;
  const service = new ServiceProcess({
    privateKeyPath: keyFile,
    ...(options.webhook === undefined ? {} : { webhook: options.webhook }),
    extraConfig: (dataDir) => ({
      // A short deliver deadline (connect + command): a failed_temp job within seconds, which retry and abandon need.
      jobs: { concurrency: 4, connectDeadline: '1s', commandTimeout: '2s' },
      kubernetes: { kubeconfig: path.join(dataDir, 'kubeconfig') },
      orchestrator: { eventSecretFile: path.join(dataDir, 'event-secret'), readyTimeout: '60s' },
      openstack: { authUrl: openstack.keystoneUrl, auth: { method: 'application_credential', id: credential.id, secretFile: path.join(dataDir, 'openstack-secret') }, region: 'RegionOne' },
      tacker: {
        callbackAuth: { kind: 'basic', username: 'tacker', passwordFile: path.join(dataDir, 'callback-password') },
        defaults: {
          ssh: { user: 'debian', port: CLOSED_SSH_PORT, privateKeySecret: 'lab-key' },
          package: { source: 'mirror', url: 'http://127.0.0.1:1/istio-sidecar.deb', sha256: 'a'.repeat(64) },
          mesh: { gateway: { ip: '127.0.0.1' } },
        },
      },
      ...options.extraConfig,
    }),
  });
  service.writeSecretFile('kubeconfig', kube.kubeconfig());
  service.writeSecretFile('event-secret', FULL_SERVICE_EVENT_SECRET);
  service.writeSecretFile('openstack-secret', credential.secret);
  service.writeSecretFile('callback-password', FULL_SERVICE_CALLBACK_PASSWORD);
  await service.start();
  return {
    service,
    cloud,
    kube,
    openstack,
    tacker,
    keyFile,
    basicAuthorization: `Basic ${Buffer.from(`tacker:${FULL_SERVICE_CALLBACK_PASSWORD}`).toString('base64')}`,
    close: async () => {
      await service.remove();
      await tacker.close();
      await openstack.close();
      await kube.close();
      rmSync(keyDir, { recursive: true, force: true });
    },
  };
}

/** A descriptor of two containers and one connection: deployable against the Kubernetes simulator alone. */
export function containerDescriptor(name: string): Record<string, unknown> {
  const ports = [{ name: 'http', port: 8080, protocol: 'HTTP' }];
  return {
    apiVersion: 'vmsi.dev/v1alpha1',
    kind: 'MeshService',
    metadata: { name },
    spec: {
      microservices: [
        { name: 'web', kind: 'container', version: 'v1', image: 'registry.example/web:1.0', ports },
        { name: 'api', kind: 'container', version: 'v1', image: 'registry.example/api:1.0', ports },
      ],
      connections: [{ from: 'web', to: 'api' }],
    },
  };
}
