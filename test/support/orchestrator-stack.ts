import { KubeConfig } from '@kubernetes/client-node';
import path from 'node:path';
import type { DeploymentView } from '../../src/orchestrator/orchestrator-service.js';
import { KeystoneClient } from '../../src/openstack/keystone-client.js';
import { kubernetesMeshConfig, labVmDefaults, openstackConfig, publishIstiodConfig } from './integration-fixtures.js';
import { buildStandInSidecarDeb } from './istio-sidecar-package/build-stand-in-sidecar-deb.js';
import { startKubernetesSimulator, type KubernetesSimulator } from './k8s-sim/kubernetes-simulator.js';
import { startLab, type Lab, type TestVm } from './lab/lab.js';
import { freePort, labVmProvider } from './lab-vm-provider.js';
import { CloudModel } from './openstack-sim/cloud-model.js';
import { startOpenStackSimulator, type OpenStackSimulator } from './openstack-sim/openstack-simulator.js';
import { ServiceProcess } from './service-process.js';
import { subscribePluginV2, tackerApiCaller } from './tacker-sim/tacker-api-caller.js';
import { kubernetesVim, startTackerSimulator, type TackerSimulator } from './tacker-sim/tacker-simulator.js';
import { TEST_ROOT_CERT } from './test-credentials.js';

export const STACK_CALLBACK_PASSWORD = 'orchestrator-callback-password-0123';
const EVENT_SECRET = 'orchestrator-event-secret-0123456789';

/**
 * What the orchestrator's end-to-end tests run against: one `vmsi serve` with the injector, the
 * Tacker plugin (subscribed to Tacker v2) and the orchestrator; Tacker, Keystone/Nova and
 * Kubernetes simulated; Tacker's VMs real lab VMs. Namespace `shop` has istiod's root certificate.
 */
export interface OrchestratorStack {
  lab: Lab;
  openstack: OpenStackSimulator;
  tacker: TackerSimulator;
  kube: KubernetesSimulator;
  keystone: KeystoneClient;
  service: ServiceProcess;
  /** Lab VMs by Nova server id, as Tacker created them. */
  vmsByServer: Map<string, TestVm>;
  waitForDeployment(id: string, timeoutMs?: number): Promise<DeploymentView>;
  close(): Promise<void>;
}

export interface OrchestratorStackOptions {
  /** Tacker's Kubernetes VIM of this id, on the same simulated cluster (for CNFs). */
  kubernetesVimId?: string;
  /** VNFDs and packages, before the service starts. */
  registerPackages(tacker: TackerSimulator): void;
  /** Goes into the config's `orchestrator` section, after the test defaults. */
  orchestrator?: Record<string, unknown>;
}

export async function startOrchestratorStack(options: OrchestratorStackOptions): Promise<OrchestratorStack> {
  // Undone newest first, also when starting fails half-way: nothing the stack made outlives it.
  const cleanups: Array<() => Promise<void>> = [];
  const close = async (): Promise<void> => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  };
  try {
    return await startParts(options, cleanups, close);
  } catch (error) {
    await close();
    throw error;
  }
}

async function startParts(options: OrchestratorStackOptions, cleanups: Array<() => Promise<void>>, close: () => Promise<void>): Promise<OrchestratorStack> {
  const vmsByServer = new Map<string, TestVm>();
  const lab = await startLab();
  cleanups.push(() => lab.close(), () => Promise.all([...vmsByServer.values()].map((vm) => vm.stop())).then(() => undefined));
  const deb = await buildStandInSidecarDeb(path.join(lab.workDir, 'deb'));
  const packageUrl = lab.publishFile(deb.path, 'istio-sidecar.deb');
  const cloud = new CloudModel();
  const openstack = await startOpenStackSimulator({ cloud });
  cleanups.push(() => openstack.close());
  const kube = await startKubernetesSimulator();
  cleanups.push(() => kube.close());
  // istiod publishes the root certificate into every namespace; the mesh config lives in istio-system.
  publishIstiodConfig(kube, 'shop', TEST_ROOT_CERT);
  const vimKubeConfig = new KubeConfig();
  vimKubeConfig.loadFromString(kube.kubeconfig());
  const tacker = await startTackerSimulator({
    cloud,
    vms: labVmProvider(lab, vmsByServer),
    keystone: { validateToken: (token) => openstack.isTokenValid(token) },
    ...(options.kubernetesVimId === undefined ? {} : { kubernetes: kubernetesVim(options.kubernetesVimId, vimKubeConfig) }),
  });
  cleanups.push(() => tacker.close());
  openstack.setTackerUrl(tacker.url);
  options.registerPackages(tacker);
  const keystone = new KeystoneClient({ authUrl: openstack.keystoneUrl, auth: openstack.credentials.applicationCredentialById, region: 'RegionOne' });
  const port = await freePort();
  const service = new ServiceProcess({
    privateKeyPath: lab.clientKey.privateKeyPath,
    port,
    connectDeadline: '60s',
    extraConfig: (dataDir) => ({
      ...kubernetesMeshConfig(dataDir),
      openstack: openstackConfig(openstack, dataDir),
      tacker: {
        apiVersions: ['v2'],
        callbackAuth: { kind: 'basic', username: 'tacker', passwordFile: path.join(dataDir, 'callback-password') },
        callbackBaseUrl: `http://127.0.0.1:${port}`,
        defaults: labVmDefaults(lab, { url: packageUrl, sha256: deb.sha256 }),
      },
      notify: { webhook: { url: `http://127.0.0.1:${port}/v1/orchestrator/events`, secretFile: path.join(dataDir, 'event-secret'), deadline: '2m' } },
      orchestrator: { pollInterval: '300ms', injectionTimeout: '6m', readyTimeout: '2m', ...options.orchestrator },
    }),
  });
  cleanups.push(() => service.remove());
  service.writeSecretFile('kubeconfig', kube.kubeconfig());
  service.writeSecretFile('openstack-secret', openstack.credentials.applicationCredentialById.secret);
  service.writeSecretFile('callback-password', STACK_CALLBACK_PASSWORD);
  service.writeSecretFile('event-secret', EVENT_SECRET);
  await service.start();
  // The plugin's subscription, as an operator makes it (`vmsi tacker subscribe`); the orchestrator makes its own.
  await subscribePluginV2(tackerApiCaller(tacker, keystone), service.url, { username: 'tacker', password: STACK_CALLBACK_PASSWORD });

  return {
    lab,
    openstack,
    tacker,
    kube,
    keystone,
    service,
    vmsByServer,
    async waitForDeployment(id, timeoutMs = 420_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { body } = await service.request<DeploymentView>('GET', `/v1/orchestrator/deployments/${id}`);
        if (['succeeded', 'failed', 'failed_temp'].includes(body.state)) return body;
        if (Date.now() > deadline) throw new Error(`deployment ${id} stuck in ${body.state}: ${JSON.stringify(body.lastError)}`);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    },
    close,
  };
}
