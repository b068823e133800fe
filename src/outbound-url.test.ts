import { expect } from 'chai';
import { configSchema } from './config.js';
import { checkConfiguredUrls, checkOutboundUrl, type AddressLookup } from './outbound-url.js';
import { rejection } from '../test/support/app-error-assertions.js';

const names: Record<string, string[]> = {
  'keystone.test': ['198.51.100.10'],
  'metadata.test': ['169.254.169.254'],
  'sneaky.test': ['198.51.100.11', 'fe80::1'],
};
const lookup: AddressLookup = (host) => {
  const found = names[host];
  return found === undefined ? Promise.reject(new Error(`ENOTFOUND ${host}`)) : Promise.resolve(found);
};

describe('outbound URL guard', function () {
  it('allows http(s) to loopback, private and public addresses', async function () {
    for (const url of ['http://127.0.0.1:5000/v3', 'https://keystone.test/identity', 'http://[::1]:8080/hook', 'https://10.0.0.5/']) {
      await checkOutboundUrl(url, 'test', lookup);
    }
  });

  it('refuses the metadata service, link-local, unspecified and multicast addresses, also behind a name or a mapped IPv6 form', async function () {
    for (const url of ['http://169.254.169.254/latest/meta-data', 'http://metadata.test/', 'http://sneaky.test/', 'http://0.0.0.0:8080/', 'http://[::ffff:169.254.169.254]/', 'http://[fe80::1]/', 'http://224.0.0.1/', 'http://[fd00:ec2::254]/']) {
      const error = await rejection(checkOutboundUrl(url, 'notify.webhook.url', lookup));
      expect(error.code, url).to.equal('INVALID_CONFIG');
      expect(error.message, url).to.include('notify.webhook.url');
    }
  });

  it('refuses other schemes, credentials in the URL (without echoing them) and names that do not resolve', async function () {
    expect((await rejection(checkOutboundUrl('file:///etc/passwd', 'test', lookup))).message).to.include('only http and https');
    const withPassword = await rejection(checkOutboundUrl('https://user:hunter2-secret@keystone.test/', 'test', lookup));
    expect(withPassword.message).to.include('credentials').and.not.include('hunter2-secret');
    expect((await rejection(checkOutboundUrl('https://nowhere.test/', 'test', lookup))).message).to.include('does not resolve');
  });

  it('checks every URL of the config the service calls, at start', async function () {
    const config = configSchema.parse({ notify: { webhook: { url: 'http://metadata.test/hook', secretFile: '/x' } } });
    expect((await rejection(checkConfiguredUrls(config, lookup))).message).to.include('notify.webhook.url');
    await checkConfiguredUrls(configSchema.parse({ notify: { webhook: { url: 'http://keystone.test/hook', secretFile: '/x' } } }), lookup);
  });
});
