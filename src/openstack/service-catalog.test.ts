import { expect } from 'chai';
import { AppError } from '../errors.js';
import { selectEndpoint, type CatalogEntry } from './service-catalog.js';

const catalog: CatalogEntry[] = [
  {
    type: 'compute',
    name: 'nova',
    endpoints: [
      { interface: 'public', region: 'RegionOne', region_id: 'RegionOne', url: 'https://nova.one.example/v2.1' },
      { interface: 'internal', region: 'RegionOne', region_id: 'RegionOne', url: 'http://nova.one.internal:8774/v2.1' },
      { interface: 'public', region: 'RegionTwo', region_id: 'RegionTwo', url: 'https://nova.two.example/v2.1' },
    ],
  },
  { type: 'network', name: 'neutron', endpoints: [{ interface: 'public', region_id: 'RegionOne', url: 'https://neutron.one.example' }] },
  { type: 'nfv-orchestration', name: 'tacker', endpoints: [{ interface: 'public', region: 'RegionOne', url: 'https://tacker.one.example:9890' }] },
];

function failure(action: () => unknown): AppError {
  try {
    action();
  } catch (error) {
    return error as AppError;
  }
  return expect.fail('expected an error');
}

describe('service catalog', function () {
  it('selects the endpoint of a service type by interface and region', function () {
    expect(selectEndpoint(catalog, { type: 'compute', interface: 'internal', region: 'RegionOne' })).to.equal('http://nova.one.internal:8774/v2.1');
    expect(selectEndpoint(catalog, { type: 'compute', interface: 'public', region: 'RegionTwo' })).to.equal('https://nova.two.example/v2.1');
    expect(selectEndpoint(catalog, { type: 'nfv-orchestration', interface: 'public', region: 'RegionOne' })).to.equal('https://tacker.one.example:9890');
  });

  it('needs no region when every match has the same URL, and reads the region from region_id or the older region key', function () {
    expect(selectEndpoint(catalog, { type: 'network', interface: 'public' })).to.equal('https://neutron.one.example');
    expect(selectEndpoint(catalog, { type: 'nfv-orchestration', interface: 'public', region: 'RegionOne' })).to.equal('https://tacker.one.example:9890');
  });

  it('refuses an ambiguous choice across regions and asks for a region', function () {
    const error = failure(() => selectEndpoint(catalog, { type: 'compute', interface: 'public' }));
    expect(error.code).to.equal('INVALID_CONFIG');
    expect(error.retryable).to.equal(false);
    expect(error.message).to.contain('2 different URLs').and.contain('configure a region');
  });

  it('lists what the catalog offers when nothing matches', function () {
    const error = failure(() => selectEndpoint(catalog, { type: 'compute', interface: 'admin', region: 'RegionOne' }));
    expect(error.code).to.equal('INVALID_CONFIG');
    expect(error.message).to.equal(
      'The Keystone service catalog has no compute endpoint with interface admin in region RegionOne. It offers: ' +
        'compute (nova): public@RegionOne, internal@RegionOne, public@RegionTwo; network (neutron): public@RegionOne; nfv-orchestration (tacker): public@RegionOne.',
    );
    expect(error.details.offered).to.have.length(5);
    const missing = failure(() => selectEndpoint(catalog, { type: 'image', interface: 'public' }));
    expect(missing.message).to.contain('has no image endpoint with interface public.');
  });

  it('says an empty catalog may come from an unscoped credential', function () {
    expect(failure(() => selectEndpoint([], { type: 'compute', interface: 'public' })).message).to.contain('is the credential scoped to a project?');
  });
});
