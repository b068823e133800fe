import path from 'node:path';
import type { KubernetesSimulator } from './k8s-sim/kubernetes-simulator.js';
import type { Lab } from './lab/lab.js';
import type { OpenStackSimulator } from './openstack-sim/openstack-simulator.js';

/**
 * The config and cluster set-up the end-to-end tests share, so each test states only what it is
 * about. Paths are under the service's data dir, where ServiceProcess.writeSecretFile puts files.
 */

type Section = Record<string, unknown>;

/** Mesh credentials and registry through the Kubernetes API (the simulator's kubeconfig, written as secret file `kubeconfig`). */
export function kubernetesMeshConfig(dataDir: string, mesh: Section = {}): Section {
  return {
    kubernetes: { kubeconfig: path.join(dataDir, 'kubeconfig') },
    mesh: { credentials: { kind: 'kubernetes' }, ...mesh },
    registry: { kind: 'kubernetes' },
  };
}

/** What istiod publishes: the root certificate in the workload namespace and the mesh config in istio-system. */
export function publishIstiodConfig(kube: KubernetesSimulator, namespace: string, rootCertificatePem: string): void {
  kube.addConfigMap(namespace, 'istio-ca-root-cert', { 'root-cert.pem': rootCertificatePem });
  kube.addConfigMap('istio-system', 'istio', { mesh: 'defaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\ntrustDomain: cluster.local\n' });
}

/** Keystone by application credential (its secret written as secret file `openstack-secret`); VMs addressed on `vm-net`. */
export function openstackConfig(openstack: OpenStackSimulator, dataDir: string): Section {
  const credential = openstack.credentials.applicationCredentialById;
  return {
    authUrl: openstack.keystoneUrl,
    auth: { method: 'application_credential', id: credential.id, secretFile: path.join(dataDir, 'openstack-secret') },
    region: 'RegionOne',
    serverAddress: { network: 'vm-net' },
  };
}

/** The Tacker plugin's per-VM defaults for lab VMs: the lab key, the stand-in package, the bridge as gateway. */
export function labVmDefaults(lab: Lab, sidecarPackage: { url: string; sha256: string }): Section {
  return { ssh: { user: 'vmadmin', privateKeySecret: 'lab-key' }, package: { source: 'mirror', ...sidecarPackage }, mesh: { gateway: { ip: lab.bridgeAddress } } };
}
