import { expect } from 'chai';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { AppError } from '../errors.js';
import { publishedJsonSchemas } from '../json-schemas.js';
import { resolveMeshParameters } from '../tacker/mesh-parameters.js';
import { meshSidecarParameters, parseServiceDescriptor, type ServiceDescriptor, type VmMicroservice } from './service-descriptor.js';
import { instantiateVnfRequest } from '../tacker/tacker-vnf-lifecycle.js';

const MIXED = readFileSync(new URL('./testdata/mixed/descriptor.yaml', import.meta.url), 'utf8');

type Fields = Record<string, unknown>;
interface Editable {
  metadata: Fields;
  spec: { microservices: Fields[]; connections: Fields[] };
}

/** The mixed scenario as a plain object, to change one thing at a time. */
function mixed(): Editable {
  return parseYaml(MIXED) as Editable;
}

function at(list: unknown, index: number): Fields {
  const item = (list as Fields[])[index];
  if (item === undefined) throw new Error(`no item ${index}`);
  return item;
}

function field(object: Fields, key: string): Fields {
  return object[key] as Fields;
}

function problemsOf(input: unknown): { path: string; message: string }[] {
  try {
    parseServiceDescriptor(input);
  } catch (error) {
    expect(error).to.be.instanceOf(AppError);
    expect((error as AppError).code).to.equal('INVALID_SPEC');
    expect((error as AppError).details.problems).to.deep.equal((error as AppError).problems);
    return (error as AppError).problems;
  }
  throw new Error('expected the descriptor to be refused');
}

function vmOf(descriptor: ServiceDescriptor, name: string): VmMicroservice {
  const microservice = descriptor.spec.microservices.find((candidate) => candidate.name === name);
  if (microservice?.kind !== 'vm') throw new Error(`no VM microservice ${name}`);
  return microservice;
}

describe('service descriptor', function () {
  it('parses YAML text and fills defaults: namespace, service, replicas, mtls, the only port', function () {
    const descriptor = parseServiceDescriptor(MIXED);
    expect(descriptor.metadata).to.deep.equal({ name: 'shop', namespace: 'shop' });
    const frontend = descriptor.spec.microservices.find((microservice) => microservice.name === 'frontend');
    expect(frontend).to.include({ service: 'frontend', replicas: 2 });
    expect(descriptor.spec.connections[0]).to.include({ from: 'frontend', to: 'catalog', port: 8080, mtls: 'STRICT' });
  });

  it('accepts an object as well as text', function () {
    expect(parseServiceDescriptor(mixed())).to.deep.equal(parseServiceDescriptor(MIXED));
  });

  it('refuses text that is not YAML, saying where', function () {
    const problems = problemsOf('spec: [unclosed');
    expect(problems).to.have.length.greaterThan(0);
    expect(problems[0]?.message).to.match(/line 1/);
  });

  it('refuses typos: unknown fields are errors', function () {
    const input = mixed();
    at(input.spec.microservices, 0).replica = 3;
    at(input.spec.connections, 0).retry = { attempts: 1 };
    expect(problemsOf(input).map((problem) => problem.path)).to.have.members(['spec.microservices.0', 'spec.connections.0']);
  });

  it('lists every cross-reference problem in one error', function () {
    const input = mixed();
    input.spec.microservices.push({ ...at(input.spec.microservices, 0) }); // duplicate name frontend
    at(input.spec.microservices, 3).version = 'v1'; // catalog-v2 now collides with catalog-vm's v1
    input.spec.connections.push(
      { from: 'nobody', to: 'catalog-vm', port: 8080 },
      { from: 'frontend', to: 'orders', port: 1234 },
      { from: 'frontend', to: 'orders' },
    );
    at(input.spec.connections, 0).split = { v1: 50, v3: 40 };
    at(at(input.spec.connections, 0).match, 0).version = 'v9';
    const problems = problemsOf(input);
    expect(problems).to.deep.include.members([
      { path: 'spec.microservices.4.name', message: 'duplicate microservice name frontend' },
      {
        path: 'spec.microservices.3.version',
        message: 'service catalog already has version v1 (microservice catalog-vm); each version of a service needs its own label',
      },
      { path: 'spec.connections.4.from', message: 'unknown service nobody; services are catalog, frontend, orders' },
      {
        path: 'spec.connections.4.to',
        message: 'unknown service catalog-vm (catalog-vm is a microservice of service catalog; connections name services); services are catalog, frontend, orders',
      },
      { path: 'spec.connections.5.port', message: '1234 is not a port of service orders (grpc 9090/GRPC, metrics 9102/HTTP)' },
      { path: 'spec.connections.6.port', message: 'is required: service orders has several ports (grpc 9090/GRPC, metrics 9102/HTTP)' },
      { path: 'spec.connections.0.split.v3', message: 'service catalog has no version v3 (versions: v1)' },
      { path: 'spec.connections.0.split', message: 'weights add up to 90; they must add up to 100' },
      { path: 'spec.connections.0.match.0.version', message: 'service catalog has no version v9 (versions: v1)' },
    ]);
  });

  it('reports cross-reference problems together with schema problems', function () {
    const input = mixed();
    input.metadata.name = 'Not_A_Name';
    at(input.spec.connections, 0).to = 'catalogue';
    const paths = problemsOf(input).map((problem) => problem.path);
    expect(paths).to.include.members(['metadata.name', 'spec.connections.0.to']);
  });

  it('refuses versions of one service that disagree on ports', function () {
    const input = mixed();
    at(input.spec.microservices, 3).ports = [{ name: 'http', port: 8081, protocol: 'HTTP' }];
    const problems = problemsOf(input);
    expect(problems.map((problem) => problem.path)).to.include('spec.microservices.3.ports');
    expect(problems.find((problem) => problem.path === 'spec.microservices.3.ports')?.message).to.equal(
      'differ from the ports of microservice catalog-vm of the same service catalog (http 8080/HTTP); one Service serves every version',
    );
  });

  it('refuses HTTP-only features on a TCP port', function () {
    const input = parseYaml(readFileSync(new URL('./testdata/tcp-only/descriptor.yaml', import.meta.url), 'utf8')) as Editable;
    Object.assign(at(input.spec.connections, 0), {
      timeout: '1s',
      retries: { attempts: 1 },
      match: [{ headers: { 'x-a': { exact: '1' } }, version: 'v2' }],
      fault: { abort: { httpStatus: 500, percent: 1 } },
      connectionPool: { http: { maxRetries: 1 } },
    });
    const message = 'is HTTP-only, but port 5432 (pg) is TCP';
    expect(problemsOf(input)).to.deep.equal(
      ['timeout', 'retries', 'match', 'fault', 'connectionPool.http'].map((field) => ({ path: `spec.connections.0.${field}`, message })),
    );
  });

  it('refuses callers that disagree on the mTLS mode or pool of one target port, and repeated connections', function () {
    const input = mixed();
    at(input.spec.connections, 2).mtls = 'PERMISSIVE';
    input.spec.connections.push({ from: 'catalog', to: 'orders', port: 9090, connectionPool: { tcp: { maxConnections: 1 } } });
    const problems = problemsOf(input);
    expect(problems.map((problem) => problem.path)).to.have.members(['spec.connections.2.mtls', 'spec.connections.4', 'spec.connections.4.connectionPool']);
    expect(problems.find((problem) => problem.path === 'spec.connections.2.mtls')?.message).to.match(/mtls applies to every caller of orders port 9090/);
  });

  it('refuses meshSidecar in additionalParams, secret-looking values, and env secrets in plain text', function () {
    const input = mixed();
    field(at(input.spec.microservices, 2), 'additionalParams').meshSidecar = { namespace: 'elsewhere' };
    field(at(input.spec.microservices, 2), 'additionalParams').adminPassword = 'hunter2';
    field(at(input.spec.microservices, 0), 'env').API_TOKEN = 'abc';
    const problems = problemsOf(input);
    expect(problems.map((problem) => problem.path)).to.have.members([
      'spec.microservices.2.additionalParams.meshSidecar',
      'spec.microservices.2.additionalParams.adminPassword',
      'spec.microservices.0.env.API_TOKEN',
    ]);
    expect(problems.find((problem) => problem.path.endsWith('API_TOKEN'))?.message).to.match(/secretKeyRef/);
  });

  it('needs a scaling aspect when more than one VM is wanted', function () {
    const input = mixed();
    delete at(input.spec.microservices, 2).scalingAspectId;
    expect(problemsOf(input).map((problem) => problem.path)).to.deep.equal(['spec.microservices.2.scalingAspectId']);
  });

  it('refuses splits that are not whole percents', function () {
    const input = mixed();
    at(input.spec.connections, 0).split = { v1: 90.5, v2: 9.5 };
    expect(problemsOf(input).map((problem) => problem.path)).to.include('spec.connections.0.split.v1');
  });

  describe('for a VM microservice', function () {
    const descriptor = parseServiceDescriptor(MIXED);
    const vm = vmOf(descriptor, 'catalog-vm');

    it('gives meshSidecar parameters that the injector accepts as they are', function () {
      const params = meshSidecarParameters(descriptor, vm);
      const resolution = resolveMeshParameters({ additionalParams: { meshSidecar: params }, vduId: 'VDU1' });
      expect(resolution).to.deep.equal({ optedIn: true, params, source: 'additionalParams' });
      expect(params).to.deep.include({ namespace: 'shop', workloadGroup: 'catalog-vm', serviceAccount: 'catalog', labels: { app: 'catalog', version: 'v1' }, ports: { http: 8080 } });
    });

    it('builds the Instantiate request with its own additionalParams and meshSidecar', function () {
      const request = instantiateVnfRequest(descriptor, vm);
      expect(request.flavourId).to.equal('simple');
      expect(request.instantiationLevelId).to.equal('instantiation_level_1');
      expect(request.additionalParams).to.have.keys('lcm-operation-user-data', 'lcm-operation-user-data-class', 'meshSidecar');
      expect(request.additionalParams.meshSidecar).to.deep.equal(meshSidecarParameters(descriptor, vm));
    });
  });
});

describe('published service descriptor JSON Schema', function () {
  it('accepts the scenarios and rejects an unknown field, like the zod schema', function () {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validate = ajv.compile(publishedJsonSchemas()['service-descriptor.schema.json'] as object);
    for (const scenario of ['mixed', 'revisioned', 'tcp-only']) {
      const input: unknown = parseYaml(readFileSync(new URL(`./testdata/${scenario}/descriptor.yaml`, import.meta.url), 'utf8'));
      expect(validate(input), `${scenario}: ${JSON.stringify(validate.errors)}`).to.equal(true);
    }
    const typo = mixed();
    at(typo.spec.connections, 0).splt = { v1: 100 };
    expect(validate(typo)).to.equal(false);
  });
});

describe('service descriptor: via (how a container microservice is run)', function () {
  const cnfSettings = { vnfdId: 'cnf-vnfd', flavourId: 'simple', vimId: 'k8s-vim', vduId: 'VDU1' };

  it('defaults to kubernetes, the orchestrator applying the Deployment itself', function () {
    const frontend = parseServiceDescriptor(MIXED).spec.microservices.find((microservice) => microservice.name === 'frontend');
    expect(frontend).to.include({ via: 'kubernetes' });
  });

  it('accepts via: tacker with the CNF package and VIM', function () {
    const input = mixed();
    Object.assign(at(input.spec.microservices, 0), { via: 'tacker', tacker: { ...cnfSettings, scalingAspectId: 'vdu1_aspect' } });
    const frontend = parseServiceDescriptor(input).spec.microservices[0];
    expect(frontend).to.deep.include({ via: 'tacker', tacker: { ...cnfSettings, scalingAspectId: 'vdu1_aspect' } });
  });

  it('refuses via: tacker without tacker settings, tacker settings without via: tacker, and several replicas without a scaling aspect', function () {
    const input = mixed();
    Object.assign(at(input.spec.microservices, 0), { via: 'tacker' });
    Object.assign(at(input.spec.microservices, 1), { tacker: cnfSettings });
    const problems = problemsOf(input);
    expect(problems.map((problem) => problem.path)).to.include.members(['spec.microservices.0.tacker', 'spec.microservices.1.tacker']);
    const scaled = mixed();
    Object.assign(at(scaled.spec.microservices, 0), { via: 'tacker', tacker: cnfSettings, replicas: 2 });
    expect(problemsOf(scaled).map((problem) => problem.path)).to.deep.equal(['spec.microservices.0.tacker.scalingAspectId']);
  });

  it('refuses an unknown path', function () {
    const input = mixed();
    Object.assign(at(input.spec.microservices, 0), { via: 'helm' });
    expect(problemsOf(input).map((problem) => problem.path)).to.deep.equal(['spec.microservices.0.via']);
  });
});
