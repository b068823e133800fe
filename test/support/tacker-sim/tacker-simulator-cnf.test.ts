import { KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';
import { startKubernetesSimulator, type KubernetesSimulator } from '../k8s-sim/kubernetes-simulator.js';
import { kubernetesVim } from './kubernetes-vim.js';
import { startTackerFixture, type TackerFixture } from './tacker-fixture.js';
import type { NotificationJson, OpOccJson, VnfInstanceJson } from './tacker-json.js';
import type { SimVnfd } from './vnf-model.js';

type Json = Record<string, unknown>;

interface CnfInstanceJson {
  instantiationState: string;
  vimConnectionInfo?: Json;
  instantiatedVnfInfo?: { metadata?: Json; vnfcResourceInfo?: Array<{ id: string; vduId: string; computeResource: { resourceId: string; vimLevelResourceType?: string } }> };
}

const VIM_ID = '290ae639-5b47-42b6-b1b0-c1623f6d856a';
const DEPLOYMENT_FILE = 'Files/kubernetes/deployment.yaml';
const MANIFEST = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: vdu1
  namespace: default
spec:
  replicas: 5
  selector:
    matchLabels: { app: webserver }
  template:
    metadata:
      labels: { app: webserver }
    spec:
      containers:
        - { name: nginx, image: nginx, ports: [{ containerPort: 80 }] }
`;

/** Tacker's CNF sample in spirit: one VDU whose properties.name is the Deployment, scalable one pod per step. */
const CNF_VNFD: SimVnfd = {
  vnfdId: 'b1bb0ce7-ebca-4fa7-95ed-4840d7000000',
  vdus: [{ vduId: 'VDU1', initialInstances: 1, k8sName: 'vdu1' }],
  scalingAspects: { vdu1_aspect: { vduId: 'VDU1', stepDelta: 1, maxScaleLevel: 3 } },
  flavourIds: ['simple'],
  kubernetesFiles: { [DEPLOYMENT_FILE]: MANIFEST },
};

function instantiateRequest(extra: Json = {}): Json {
  return {
    flavourId: 'simple',
    vimConnectionInfo: { vim1: { vimId: VIM_ID, vimType: 'ETSINFV.KUBERNETES.V_1' } },
    additionalParams: { 'lcm-kubernetes-def-files': [DEPLOYMENT_FILE], namespace: 'shop' },
    ...extra,
  };
}

describe('Tacker simulator, v2 CNF on a Kubernetes VIM', function () {
  let kube: KubernetesSimulator;
  let fixture: TackerFixture;

  beforeEach(async function () {
    kube = await startKubernetesSimulator();
    kube.addNamespace('shop', { 'istio-injection': 'enabled' });
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromString(kube.kubeconfig());
    fixture = await startTackerFixture({ kubernetes: kubernetesVim(VIM_ID, kubeConfig) });
    fixture.sim.registerVnfd(CNF_VNFD);
    const subscribed = await fixture.call('POST', '/vnflcm/v2/subscriptions', { callbackUri: fixture.callback.url });
    expect(subscribed.status).to.equal(201);
  });

  afterEach(async function () {
    await fixture.stop();
    await kube.close();
  });

  async function createInstance(): Promise<string> {
    const answer = await fixture.call('POST', '/vnflcm/v2/vnf_instances', { vnfdId: CNF_VNFD.vnfdId, vnfInstanceName: 'shop-web' });
    expect(answer.status, JSON.stringify(answer.body)).to.equal(201);
    return (answer.body as VnfInstanceJson).id;
  }

  async function operate(path: string, body: Json): Promise<string> {
    const answer = await fixture.call('POST', path, body);
    expect(answer.status, JSON.stringify(answer.body)).to.equal(202);
    const occId = (answer.headers.get('location') ?? '').split('/').pop() ?? '';
    await fixture.sim.waitForOpOcc(occId, 'COMPLETED');
    await fixture.sim.settled();
    return occId;
  }

  async function instance(id: string): Promise<CnfInstanceJson> {
    return (await fixture.call('GET', `/vnflcm/v2/vnf_instances/${id}`)).body as CnfInstanceJson;
  }

  function podNames(): string[] {
    return kube.objects('pods', 'shop').map((pod) => pod.metadata.name as string).sort();
  }

  function stateSequence(occId: string): string[] {
    return (fixture.callback.notifications() as NotificationJson[]).filter((notification) => notification.vnfLcmOpOccId === occId).map((notification) => String(notification.operationState));
  }

  it('instantiates the definition files in the requested namespace at the VDU count, pods as vnfcResourceInfo, with the VNF notifications', async function () {
    const id = await createInstance();
    const occId = await operate(`/vnflcm/v2/vnf_instances/${id}/instantiate`, instantiateRequest());
    const deployment = kube.object('deployments', 'shop', 'vdu1');
    expect(deployment, 'Deployment in the requested namespace').to.not.equal(undefined);
    expect((deployment?.spec as { replicas: number }).replicas, 'replicas from the VDU, not the manifest').to.equal(1);
    expect(kube.objects('deployments', 'default')).to.have.length(0);
    const pods = podNames();
    expect(pods).to.have.length(1);
    // The namespace's injection gave the pod its sidecar, as Istio's webhook would.
    const containers = (kube.objects('pods', 'shop')[0]?.spec as { containers: { name: string }[] }).containers.map((container) => container.name);
    expect(containers).to.include('istio-proxy');

    const shown = await instance(id);
    expect(shown.instantiationState).to.equal('INSTANTIATED');
    expect(shown.vimConnectionInfo).to.deep.equal({ vim1: { vimId: VIM_ID, vimType: 'ETSINFV.KUBERNETES.V_1' } });
    expect(shown.instantiatedVnfInfo?.metadata).to.deep.equal({ namespace: 'shop' });
    expect(shown.instantiatedVnfInfo?.vnfcResourceInfo?.map((vnfc) => [vnfc.id, vnfc.vduId, vnfc.computeResource.resourceId, vnfc.computeResource.vimLevelResourceType])).to.deep.equal([
      [pods[0], 'VDU1', pods[0], 'Deployment'],
    ]);
    expect(stateSequence(occId)).to.deep.equal(['STARTING', 'PROCESSING', 'COMPLETED']);
    const occ = (await fixture.call('GET', `/vnflcm/v2/vnf_lcm_op_occs/${occId}`)).body as OpOccJson & { resourceChanges?: { affectedVnfcs: Array<{ changeType: string; computeResource: Json }> } };
    expect(occ.resourceChanges?.affectedVnfcs.map((vnfc) => [vnfc.changeType, vnfc.computeResource.resourceId])).to.deep.equal([['ADDED', pods[0]]]);
  });

  it('scales the aspect Deployment out and in, reporting the pods added and removed', async function () {
    const id = await createInstance();
    await operate(`/vnflcm/v2/vnf_instances/${id}/instantiate`, instantiateRequest());
    const [first] = podNames();
    const outId = await operate(`/vnflcm/v2/vnf_instances/${id}/scale`, { type: 'SCALE_OUT', aspectId: 'vdu1_aspect', numberOfSteps: 2 });
    expect(podNames()).to.have.length(3).and.to.include(first);
    const out = (fixture.callback.notifications() as NotificationJson[]).find((notification) => notification.vnfLcmOpOccId === outId && notification.operationState === 'COMPLETED');
    expect(out?.affectedVnfcs?.map((vnfc) => vnfc.changeType)).to.deep.equal(['ADDED', 'ADDED']);
    expect((await instance(id)).instantiatedVnfInfo?.vnfcResourceInfo).to.have.length(3);

    const inId = await operate(`/vnflcm/v2/vnf_instances/${id}/scale`, { type: 'SCALE_IN', aspectId: 'vdu1_aspect', numberOfSteps: 1 });
    expect(podNames()).to.have.length(2);
    const removed = (fixture.callback.notifications() as NotificationJson[]).find((notification) => notification.vnfLcmOpOccId === inId && notification.operationState === 'COMPLETED');
    expect(removed?.affectedVnfcs?.map((vnfc) => vnfc.changeType)).to.deep.equal(['REMOVED']);
    expect(podNames()).to.not.include(removed?.affectedVnfcs?.[0]?.computeResource.resourceId);
  });

  it('terminates by deleting the objects, leaving nothing in the cluster', async function () {
    const id = await createInstance();
    await operate(`/vnflcm/v2/vnf_instances/${id}/instantiate`, instantiateRequest());
    const occId = await operate(`/vnflcm/v2/vnf_instances/${id}/terminate`, { terminationType: 'FORCEFUL' });
    expect(kube.objects('deployments', 'shop')).to.have.length(0);
    expect(podNames()).to.have.length(0);
    expect((await instance(id)).instantiationState).to.equal('NOT_INSTANTIATED');
    const final = (fixture.callback.notifications() as NotificationJson[]).find((notification) => notification.vnfLcmOpOccId === occId && notification.operationState === 'COMPLETED');
    expect(final?.affectedVnfcs?.map((vnfc) => vnfc.changeType)).to.deep.equal(['REMOVED']);
    expect((await fixture.call('DELETE', `/vnflcm/v2/vnf_instances/${id}`)).status).to.equal(204);
  });

  it('refuses a CNF instantiation without a Kubernetes VIM it knows or without definition files in the package', async function () {
    const id = await createInstance();
    const cases: Array<[Json, RegExp]> = [
      [{ vimConnectionInfo: { vim1: { vimId: VIM_ID, vimType: 'ETSINFV.OPENSTACK_KEYSTONE.V_3' } } }, /vimConnectionInfo must name a VIM of type/],
      [{ vimConnectionInfo: { vim1: { vimId: 'other-vim', vimType: 'kubernetes' } } }, /VIM other-vim not found/],
      [{ additionalParams: { namespace: 'shop' } }, /'lcm-kubernetes-def-files' must be specified/],
      [{ additionalParams: { 'lcm-kubernetes-def-files': ['Files/kubernetes/missing.yaml'] } }, /missing.yaml" is not in the VNF package/],
    ];
    for (const [extra, detail] of cases) {
      const answer = await fixture.call('POST', `/vnflcm/v2/vnf_instances/${id}/instantiate`, instantiateRequest(extra));
      expect(answer.status, JSON.stringify(answer.body)).to.equal(400);
      expect((answer.body as { detail: string }).detail).to.match(detail);
    }
    expect(kube.objects('deployments', 'shop')).to.have.length(0);
    expect((await instance(id)).instantiationState).to.equal('NOT_INSTANTIATED');
  });
});
