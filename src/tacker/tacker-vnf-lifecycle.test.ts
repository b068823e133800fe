import { expect } from 'chai';
import { parse as parseYaml } from 'yaml';
import { cnfDeploymentFilePath, cnfPackageFiles } from '../orchestrator/cnf-package.js';
import { desiredObjects, SERVICE_LABEL } from '../orchestrator/desired-objects.js';
import { isCnf, parseServiceDescriptor, tackerMicroservicesOf, type CnfMicroservice, type ServiceDescriptor, type ServiceDescriptorInput } from '../orchestrator/service-descriptor.js';
import { MANAGED_BY_LABEL } from '../mesh/workload-objects.js';
import { createVnfRequest, instantiateVnfRequest, KUBERNETES_DEF_FILES_KEY, KUBERNETES_VIM_TYPE } from './tacker-vnf-lifecycle.js';

const VIM_ID = '290ae639-5b47-42b6-b1b0-c1623f6d856a';

function cnfDescriptor(): ServiceDescriptor {
  const input: ServiceDescriptorInput = {
    apiVersion: 'vmsi.dev/v1alpha1',
    kind: 'MeshService',
    metadata: { name: 'shop', namespace: 'shop-prod' },
    spec: {
      microservices: [
        { name: 'frontend', kind: 'container', version: 'v1', image: 'registry.example/frontend:1.2', ports: [{ name: 'http', port: 8080, protocol: 'HTTP' }] },
        {
          name: 'catalog-cnf',
          service: 'catalog',
          kind: 'container',
          version: 'v2',
          image: 'registry.example/catalog:2.0',
          replicas: 2,
          via: 'tacker',
          tacker: { vnfdId: 'cnf-vnfd', flavourId: 'simple', vimId: VIM_ID, vduId: 'VDU1', scalingAspectId: 'vdu1_aspect' },
          ports: [{ name: 'http', port: 8080, protocol: 'HTTP' }],
        },
      ],
      connections: [{ from: 'frontend', to: 'catalog' }],
    },
  };
  return parseServiceDescriptor(input);
}

function cnfOf(descriptor: ServiceDescriptor): CnfMicroservice {
  const found = descriptor.spec.microservices.find(isCnf);
  if (found === undefined) throw new Error('no CNF in the descriptor');
  return found;
}

describe('Tacker requests for a container microservice with via: tacker (a CNF)', function () {
  it('creates the instance from the CNF package VNFD under the deterministic name', function () {
    const descriptor = cnfDescriptor();
    expect(createVnfRequest(descriptor, cnfOf(descriptor))).to.deep.equal({
      vnfdId: 'cnf-vnfd',
      vnfInstanceName: 'shop-catalog-cnf',
      vnfInstanceDescription: 'Container microservice catalog-cnf (service catalog, version v2) of shop',
    });
  });

  it('instantiates on the Kubernetes VIM by ID with the definition files and the descriptor namespace, without meshSidecar', function () {
    const descriptor = cnfDescriptor();
    expect(instantiateVnfRequest(descriptor, cnfOf(descriptor))).to.deep.equal({
      flavourId: 'simple',
      vimConnectionInfo: { vim1: { vimId: VIM_ID, vimType: KUBERNETES_VIM_TYPE } },
      additionalParams: { [KUBERNETES_DEF_FILES_KEY]: ['Files/kubernetes/catalog-cnf-deployment.yaml'], namespace: 'shop-prod' },
    });
    expect(KUBERNETES_VIM_TYPE).to.equal('ETSINFV.KUBERNETES.V_1');
  });

  it('counts the CNF among what Tacker runs, and leaves its Deployment out of what the orchestrator applies', function () {
    const descriptor = cnfDescriptor();
    expect(tackerMicroservicesOf(descriptor).map((microservice) => microservice.name)).to.deep.equal(['catalog-cnf']);
    const deployments = desiredObjects(descriptor).filter((object) => object.kind === 'Deployment');
    expect(deployments.map((object) => object.metadata.name)).to.deep.equal(['frontend']);
    // The Service selecting the CNF's pods stays the orchestrator's, in the injected namespace.
    const kinds = desiredObjects(descriptor).map((object) => `${object.kind}/${object.metadata.name}`);
    expect(kinds).to.include.members(['Namespace/shop-prod', 'Service/catalog', 'ServiceAccount/catalog', 'VirtualService/catalog']);
  });

  it('renders the package file as the Deployment the direct path would apply, in the namespace, without the managed-by label', function () {
    const descriptor = cnfDescriptor();
    const microservice = cnfOf(descriptor);
    const files = cnfPackageFiles(descriptor, microservice);
    expect([...files.keys()]).to.deep.equal([cnfDeploymentFilePath(microservice)]);
    const manifest = parseYaml(files.get(cnfDeploymentFilePath(microservice)) ?? '') as { kind: string; metadata: { name: string; namespace: string; labels: Record<string, string> }; spec: Record<string, unknown> };
    expect(manifest.kind).to.equal('Deployment');
    expect(manifest.metadata).to.include({ name: 'catalog-cnf', namespace: 'shop-prod' });
    expect(manifest.metadata.labels).to.include({ [SERVICE_LABEL]: 'shop', app: 'catalog', version: 'v2' });
    expect(manifest.metadata.labels).to.not.have.property(MANAGED_BY_LABEL);
    expect(manifest.spec).to.deep.include({ replicas: 2, selector: { matchLabels: { app: 'catalog', version: 'v2' } } });
  });
});
