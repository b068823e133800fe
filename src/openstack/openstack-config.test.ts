import { expect } from 'chai';
import { CloudModel } from '../../test/support/openstack-sim/cloud-model.js';
import { startOpenStackSimulator, type OpenStackSimulator } from '../../test/support/openstack-sim/openstack-simulator.js';
import { createOpenStackClients, keystoneAuthFromConfig, openstackConfigSchema } from './openstack-config.js';

describe('OpenStack config', function () {
  let sim: OpenStackSimulator;
  const serverId = '7a9c0b1d-2e3f-4a5b-8c6d-7e8f9a0b1c2d';

  beforeEach(async function () {
    const cloud = new CloudModel();
    cloud.addServer({ id: serverId, name: 'vnf-db-0', status: 'ACTIVE', networks: { 'mgmt-net': [{ addr: '10.10.0.30', version: 4, type: 'fixed' }] }, metadata: {} });
    sim = await startOpenStackSimulator({ cloud });
  });
  afterEach(async function () {
    await sim.close();
  });

  it('fills the documented defaults', function () {
    const config = openstackConfigSchema.parse({ authUrl: 'https://keystone.example:5000/v3', auth: { method: 'application_credential', id: 'ac', secretFile: '/etc/vmsi/ac' } });
    expect(config).to.deep.include({ interface: 'public', tokenRefreshMargin: '5m', requestTimeout: '30s', activeTimeout: '10m', endpointOverrides: {}, serverAddress: {} });
  });

  it('needs an application credential id, or its name with the user, and never an inline secret', function () {
    const base = { authUrl: 'https://keystone.example/v3' };
    expect(openstackConfigSchema.safeParse({ ...base, auth: { method: 'application_credential', secretFile: '/s' } }).success).to.equal(false);
    expect(openstackConfigSchema.safeParse({ ...base, auth: { method: 'application_credential', name: 'n', secretFile: '/s' } }).success).to.equal(false);
    expect(openstackConfigSchema.safeParse({ ...base, auth: { method: 'application_credential', name: 'n', user: { id: 'u' }, secretFile: '/s' } }).success).to.equal(true);
    expect(openstackConfigSchema.safeParse({ ...base, auth: { method: 'application_credential', id: 'i', secret: 'inline', secretFile: '/s' } }).success).to.equal(false);
    expect(openstackConfigSchema.safeParse({ ...base, auth: { method: 'password', user: { name: 'vmsi' }, passwordFile: '/p', project: { id: 'p' } } }).success).to.equal(false);
  });

  it('drops the trailing newline a secret file usually ends with', function () {
    expect(keystoneAuthFromConfig({ method: 'application_credential', id: 'ac', secretFile: '/s' }, 'value-12345\n')).to.deep.equal({ method: 'application_credential', id: 'ac', secret: 'value-12345' });
  });

  it('wires Keystone, the session and Nova from a password config', async function () {
    const { passwordByName } = sim.credentials;
    const config = openstackConfigSchema.parse({
      authUrl: sim.keystoneUrl.replace(/\/v3$/, ''),
      auth: { method: 'password', user: passwordByName.user, passwordFile: '/unused', project: passwordByName.project },
      region: 'RegionOne',
      interface: 'internal',
      serverAddress: { network: 'mgmt-net' },
    });
    const { servers } = createOpenStackClients(config, { secret: `${passwordByName.password}\n` });
    expect((await servers.getServer(serverId))?.addresses[0]?.address).to.equal('10.10.0.30');
    expect(sim.requests.find((request) => request.service === 'compute')?.interface).to.equal('internal');
  });
});
