import { expect } from 'chai';
import { AppError } from '../errors.js';
import { ManualClock } from '../jobs/manual-clock.js';
import { CloudModel } from '../../test/support/openstack-sim/cloud-model.js';
import { networkIdOf } from '../../test/support/openstack-sim/cloud-views.js';
import { startOpenStackSimulator, type OpenStackSimulator } from '../../test/support/openstack-sim/openstack-simulator.js';
import { createSelfSignedCertificate } from '../../test/support/openstack-sim/self-signed-certificate.js';
import { createHttpTransport } from './http-transport.js';
import { KeystoneClient, type KeystoneClientOptions } from './keystone-client.js';
import { NOVA_MICROVERSION, NovaServerDirectory } from './nova-server-directory.js';
import { OpenStackSession, joinUrl } from './openstack-session.js';
import { chooseAddress, waitUntilActive } from './server-directory.js';
import { rejection } from '../../test/support/app-error-assertions.js';


const WEB_ID = '3f1e2d4c-5b6a-4789-8abc-def012345678';

function seedCloud(): CloudModel {
  const cloud = new CloudModel();
  cloud.addServer({
    id: WEB_ID,
    name: 'vnf-web-0',
    status: 'ACTIVE',
    networks: {
      'mgmt-net': [
        { addr: '10.10.0.15', version: 4, type: 'fixed' },
        { addr: '2001:db8:10::f', version: 6, type: 'fixed' },
        { addr: '203.0.113.40', version: 4, type: 'floating' },
      ],
      'data-net': [{ addr: '10.20.0.15', version: 4, type: 'fixed' }],
    },
    metadata: { 'mesh.sidecar': 'enabled', 'tacker.vduId': 'VDU1' },
    keyName: 'vnf-key',
  });
  cloud.addServer({ id: 'b0000000-0000-4000-8000-000000000001', name: 'elsewhere', status: 'ACTIVE', networks: {}, metadata: {}, tenantId: 'tenant-other' });
  return cloud;
}

describe('Nova server directory', function () {
  let sim: OpenStackSimulator;
  let cloud: CloudModel;

  beforeEach(async function () {
    cloud = seedCloud();
    sim = await startOpenStackSimulator({ cloud });
  });
  afterEach(async function () {
    await sim.close();
  });

  function directory(options: Partial<KeystoneClientOptions> = {}): { servers: NovaServerDirectory; keystone: KeystoneClient } {
    const keystone = new KeystoneClient({ authUrl: sim.keystoneUrl, auth: sim.credentials.applicationCredentialById, region: 'RegionOne', ...options });
    const session = new OpenStackSession({ identity: keystone, transport: keystone.transport });
    return { servers: new NovaServerDirectory({ session }), keystone };
  }

  it('reads name, status, metadata, key name and every address with its network, version and type', async function () {
    const server = await directory().servers.getServer(WEB_ID);
    expect(server).to.deep.equal({
      id: WEB_ID,
      name: 'vnf-web-0',
      status: 'ACTIVE',
      addresses: [
        { network: 'mgmt-net', address: '10.10.0.15', version: 4, type: 'fixed' },
        { network: 'mgmt-net', address: '2001:db8:10::f', version: 6, type: 'fixed' },
        { network: 'mgmt-net', address: '203.0.113.40', version: 4, type: 'floating' },
        { network: 'data-net', address: '10.20.0.15', version: 4, type: 'fixed' },
      ],
      metadata: { 'mesh.sidecar': 'enabled', 'tacker.vduId': 'VDU1' },
      keyName: 'vnf-key',
    });
    expect(chooseAddress(server!, { network: 'mgmt-net', ipVersion: 6 })).to.equal('2001:db8:10::f');
    expect(chooseAddress(server!, { network: 'mgmt-net', type: 'floating' })).to.equal('203.0.113.40');
  });

  it('asks the configured region and interface with the pinned compute microversion', async function () {
    await directory({ region: 'RegionTwo', interface: 'internal' }).servers.getServer(WEB_ID);
    const request = sim.requests.find((candidate) => candidate.service === 'compute');
    expect(request).to.deep.include({ method: 'GET', path: `/servers/${WEB_ID}`, region: 'RegionTwo', interface: 'internal', microversion: `compute ${NOVA_MICROVERSION}` });
  });

  it('answers undefined for an unknown server, another project’s and a deleted one', async function () {
    const { servers } = directory();
    expect(await servers.getServer('00000000-0000-4000-8000-00000000dead')).to.equal(undefined);
    expect(await servers.getServer('b0000000-0000-4000-8000-000000000001')).to.equal(undefined);
    cloud.setStatus(WEB_ID, 'DELETED');
    expect(await servers.getServer(WEB_ID)).to.equal(undefined);
  });

  it('encodes the server id into the path so that it cannot reach another resource', async function () {
    expect(await directory().servers.getServer('../os-hypervisors?x=1')).to.equal(undefined);
    expect(sim.requests.at(-1)?.path).to.equal('/servers/..%2Fos-hypervisors%3Fx%3D1');
  });

  it('reads the addresses from Neutron ports when Nova hides them', async function () {
    sim.setNovaHidesAddresses(true);
    sim.hideNetwork('data-net');
    const server = await directory().servers.getServer(WEB_ID);
    expect(server?.addresses).to.deep.equal([
      { network: 'mgmt-net', address: '10.10.0.15', version: 4, type: 'fixed' },
      { network: 'mgmt-net', address: '2001:db8:10::f', version: 6, type: 'fixed' },
      { network: 'mgmt-net', address: '203.0.113.40', version: 4, type: 'floating' },
      // A network the project cannot read keeps its id, as an operator can look it up.
      { network: networkIdOf('data-net'), address: '10.20.0.15', version: 4, type: 'fixed' },
    ]);
    const neutron = sim.requests.filter((request) => request.service === 'network').map((request) => `${request.path}${request.query}`);
    expect(neutron[0]).to.equal(`/v2.0/ports?device_id=${WEB_ID}`);
    expect(neutron.filter((path) => path.startsWith('/v2.0/networks/'))).to.have.length(2);
    expect(neutron.filter((path) => path.startsWith('/v2.0/floatingips?port_id='))).to.have.length(1);
  });

  it('does not ask Neutron while the server builds: Nova hides addresses in BUILD by design', async function () {
    cloud.setStatus(WEB_ID, 'BUILD');
    const server = await directory().servers.getServer(WEB_ID);
    expect(server).to.include({ status: 'BUILD' });
    expect(server?.addresses).to.deep.equal([]);
    expect(sim.requests.filter((request) => request.service === 'network')).to.deep.equal([]);
  });

  it('waits for BUILD to become ACTIVE and then has the addresses', async function () {
    const clock = new ManualClock();
    cloud.setStatus(WEB_ID, 'BUILD');
    const { servers } = directory();
    const waiting = waitUntilActive(servers, WEB_ID, { deadlineMs: clock.now() + 120_000, clock });
    for (let turn = 0; turn < 2000 && clock.pendingSleeps === 0; turn += 1) await new Promise((resolve) => setTimeout(resolve, 1));
    cloud.setStatus(WEB_ID, 'ACTIVE');
    await clock.advance(2_000);
    const server = await waiting;
    expect(chooseAddress(server, { network: 'mgmt-net' })).to.equal('10.10.0.15');
  });

  it('retries once with a fresh token when Nova refuses a revoked one', async function () {
    const { servers } = directory();
    await servers.getServer(WEB_ID);
    sim.revokeTokens();
    expect((await servers.getServer(WEB_ID))?.name).to.equal('vnf-web-0');
    expect(sim.tokensIssued()).to.equal(2);
  });

  it('maps Nova failures: 503 retryable, 403 and an unsupported microversion not', async function () {
    const { servers } = directory();
    sim.failNext({ service: 'compute', status: 503 });
    expect(await rejection(servers.getServer(WEB_ID))).to.include({ code: 'SERVICE_UNREACHABLE', retryable: true });
    sim.failNext({ service: 'compute', status: 403 });
    expect(await rejection(servers.getServer(WEB_ID))).to.include({ code: 'CREDENTIALS_UNAVAILABLE', retryable: false });
    await sim.close();
    sim = await startOpenStackSimulator({ cloud, novaMaxMicroversion: '2.60' });
    const old = await rejection(directory().servers.getServer(WEB_ID));
    expect(old).to.include({ code: 'INVALID_CONFIG', retryable: false });
    expect(old.message).to.equal(`Nova answered GET /servers/${WEB_ID} with HTTP 406: Version 2.79 is not supported by the API. Minimum is 2.1 and maximum is 2.60.`);
  });

  it('reads a 404 that is not Nova’s as a wrong endpoint, not as a missing server', async function () {
    const { servers } = directory({ endpointOverrides: { compute: `${sim.baseUrl}/nowhere/v2.1` } });
    const error = await rejection(servers.getServer(WEB_ID));
    expect(error.code).to.equal('INVALID_CONFIG');
    expect(error.message).to.contain('check the compute endpoint');
  });

  it('joins catalog URLs with or without a trailing slash or a version already in them', function () {
    expect(joinUrl('http://neutron:9696/', '/v2.0/ports', { device_id: 'x', port_id: ['a', 'b'] }).href).to.equal('http://neutron:9696/v2.0/ports?device_id=x&port_id=a&port_id=b');
    expect(joinUrl('http://neutron:9696/v2.0/', '/v2.0/ports').href).to.equal('http://neutron:9696/v2.0/ports');
    expect(joinUrl('http://nova:8774/v2.1/tenant-a', '/servers/x').href).to.equal('http://nova:8774/v2.1/tenant-a/servers/x');
  });

  describe('over TLS', function () {
    it('trusts a configured CA bundle and refuses the same server without it', async function () {
      const certificate = createSelfSignedCertificate();
      await sim.close();
      sim = await startOpenStackSimulator({ cloud, tls: certificate });
      const trusting = directory({ transport: createHttpTransport({ caBundle: certificate.cert }) });
      expect((await trusting.servers.getServer(WEB_ID))?.status).to.equal('ACTIVE');
      sim.failNext({ service: 'compute', status: 0, stall: true });
      const stalled = await rejection(new NovaServerDirectory({ session: new OpenStackSession({ identity: trusting.keystone, transport: trusting.keystone.transport, requestTimeoutMs: 100 }) }).getServer(WEB_ID));
      expect(stalled).to.include({ code: 'SERVICE_UNREACHABLE', retryable: true });
      expect(stalled.details.reason).to.equal('timeout');
      const untrusting = await rejection(directory().servers.getServer(WEB_ID));
      expect(untrusting).to.include({ code: 'CREDENTIALS_UNAVAILABLE', retryable: true });
      expect(untrusting.details.reason).to.equal('DEPTH_ZERO_SELF_SIGNED_CERT');
    });

    it('still speaks plain HTTP to http endpoints, and bounds the size of an answer', async function () {
      const certificate = createSelfSignedCertificate();
      const plain = directory({ transport: createHttpTransport({ caBundle: certificate.cert }) });
      expect((await plain.servers.getServer(WEB_ID))?.name).to.equal('vnf-web-0');
      const small = await rejection(directory({ transport: createHttpTransport({ maxResponseBytes: 512 }) }).servers.getServer(WEB_ID));
      expect(small).to.include({ retryable: true });
      expect(small.details.reason).to.equal('The response is larger than 512 bytes.');
    });

    it('refuses a CA bundle with no certificate at start-up', function () {
      expect(() => createHttpTransport({ caBundle: 'not a certificate' })).to.throw(AppError, 'The OpenStack CA bundle holds no PEM certificate.');
      const garbled = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
      expect(() => createHttpTransport({ caBundle: garbled })).to.throw(AppError, 'Certificate 1 of the OpenStack CA bundle cannot be parsed.');
    });
  });
});
