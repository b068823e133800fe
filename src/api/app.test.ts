import { expect } from 'chai';
import { stringify } from 'yaml';
import { ADMIN_TOKEN, READER_TOKEN, startTestService, type TestService } from '../../test/support/test-service.js';
import { validSpecInput } from '../../test/support/spec-fixtures.js';
import { TEST_TOKEN_MARKER } from '../../test/support/test-credentials.js';

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  problems?: Array<{ path: string; message: string }>;
}

describe('HTTP API', function () {
  let service: TestService;
  before(async function () {
    service = await startTestService();
  });
  after(async function () {
    await service.close();
  });

  function call(path: string, init: RequestInit & { token?: string | null } = {}): Promise<Response> {
    const { token = ADMIN_TOKEN, headers, ...rest } = init;
    return fetch(`${service.url}${path}`, { ...rest, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });
  }

  function postJson(path: string, body: unknown, token: string = ADMIN_TOKEN): Promise<Response> {
    return call(path, { method: 'POST', token, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  async function expectProblem(response: Response, status: number, code: string): Promise<Problem> {
    expect(response.status).to.equal(status);
    expect(response.headers.get('content-type')).to.match(/^application\/problem\+json/);
    const problem = (await response.json()) as Problem;
    expect(problem).to.include({ status, code });
    expect(problem.title).to.be.a('string');
    expect(problem.detail).to.be.a('string');
    return problem;
  }

  it('refuses requests without a valid bearer token, naming the scheme', async function () {
    for (const token of [null, 'wrong-token-wrong-token']) {
      const response = await call('/healthz', { token });
      await expectProblem(response, 401, 'UNAUTHENTICATED');
      expect(response.headers.get('www-authenticate')).to.match(/^Bearer realm=/);
    }
  });

  it('answers health, readiness and metrics to authenticated callers', async function () {
    expect((await call('/healthz')).status).to.equal(200);
    expect((await call('/readyz')).status).to.equal(200);
    const metrics = await call('/metrics');
    expect(metrics.status).to.equal(200);
    expect(await metrics.text()).to.include('vmsi_http_request_duration_seconds');
  });

  it('renders a bundle with secrets masked by default', async function () {
    const response = await postJson('/v1/render', validSpecInput());
    expect(response.status).to.equal(200);
    const text = await response.text();
    expect(text).not.to.include(TEST_TOKEN_MARKER);
    const body = JSON.parse(text) as { files: Array<{ name: string; content: string; mode: string }>; identity: { spiffeId: string } };
    expect(body.identity.spiffeId).to.equal('spiffe://cluster.local/ns/vm-ns/sa/vm-sa');
    const token = body.files.find((file) => file.name === 'istio-token');
    expect(token?.content).to.match(/^\[REDACTED sha256:[0-9a-f]{64}\]/);
    expect(token?.mode).to.equal('0400');
    expect(body.files.map((file) => file.name)).to.include.members(['install-sidecar.sh', 'injector.env', 'cluster.env', 'mesh.yaml', 'root-cert.pem', 'hosts']);
  });

  it('shows secrets only to a caller holding the secrets scope', async function () {
    await expectProblem(await postJson('/v1/render?includeSecrets=true', validSpecInput(), READER_TOKEN), 403, 'FORBIDDEN');
    const response = await postJson('/v1/render?includeSecrets=true', validSpecInput());
    expect(response.status).to.equal(200);
    expect(await response.text()).to.include(TEST_TOKEN_MARKER);
  });

  it('renders cloud-init user-data when asked, from a YAML body', async function () {
    const response = await call('/v1/render?delivery=cloud-init', { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: stringify(validSpecInput()) });
    expect(response.status).to.equal(200);
    const body = (await response.json()) as { userData: string; delivery: string };
    expect(body.delivery).to.equal('cloud-init');
    expect(body.userData.startsWith('#cloud-config\n')).to.equal(true);
    expect(body.userData).not.to.include(TEST_TOKEN_MARKER);
  });

  it('answers a bad spec with 400 listing every problem', async function () {
    const problem = await expectProblem(await postJson('/v1/render', { vm: { address: 'nope' }, mesh: {}, package: {} }), 400, 'INVALID_SPEC');
    expect(problem.problems?.map((item) => item.path)).to.include.members(['vm.name', 'vm.address', 'mesh.namespace', 'mesh.workloadGroup']);
  });

  it('answers malformed, oversized, mistyped and unknown requests with 4xx problem details', async function () {
    await expectProblem(await call('/v1/render', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"vm":' }), 400, 'INVALID_REQUEST');
    await expectProblem(await call('/v1/render', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    await expectProblem(await call('/v1/render', { method: 'POST', headers: { 'content-type': 'application/json' }, body: `"${'x'.repeat(1_100_000)}"` }), 413, 'PAYLOAD_TOO_LARGE');
    await expectProblem(await call('/v1/render', { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: 'a: [' }), 400, 'INVALID_REQUEST');
    await expectProblem(await postJson('/v1/render?colour=blue', validSpecInput()), 400, 'INVALID_REQUEST');
    await expectProblem(await call('/v1/nothing-here'), 404, 'NOT_FOUND');
  });

  it('maps control-plane inconsistencies to 422, not 500', async function () {
    const spec = validSpecInput();
    const problem = await expectProblem(await postJson('/v1/render', { ...spec, mesh: { ...spec.mesh, gateway: { hostname: 'unknown.example.net' } } }), 422, 'GATEWAY_UNRESOLVED');
    expect(problem.detail).to.include('unknown.example.net');
  });

  it('keeps serving after bad input', async function () {
    await call('/v1/render', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '\u0000\u0001' });
    expect((await call('/healthz')).status).to.equal(200);
  });
});
