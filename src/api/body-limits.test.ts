import { expect } from 'chai';
import { bodyLimitFor, configSchema } from '../config.js';
import { FULL_APP_TOKENS, startFullApp, type FullApp } from '../../test/support/full-app.js';

describe('body limits per route', function () {
  this.timeout(30_000);
  let app: FullApp;

  before(async function () {
    app = await startFullApp();
  });

  after(async function () {
    await app.close();
  });

  it('takes the longest matching path prefix, else the default', function () {
    const http = configSchema.parse({ http: { bodyLimitBytes: 100, bodyLimits: { '/v1/injections': 10, '/v1/injections/batch': 20 } } }).http;
    expect(bodyLimitFor(http, '/v1/injections')).to.equal(10);
    expect(bodyLimitFor(http, '/v1/injections/abc/retry')).to.equal(10);
    expect(bodyLimitFor(http, '/v1/injections/batch')).to.equal(20);
    expect(bodyLimitFor(http, '/v1/injectionsX')).to.equal(100);
    expect(bodyLimitFor(http, '/v1/render')).to.equal(100);
  });

  it('refuses a spec larger than the render limit with 413, while a route with a larger limit reads it', async function () {
    const body = JSON.stringify({ padding: 'x'.repeat(300 * 1024) });
    const post = (path: string): Promise<Response> =>
      fetch(`${app.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${FULL_APP_TOKENS.admin}`, 'content-type': 'application/json' }, body });
    const render = await post('/v1/render');
    expect(render.status).to.equal(413);
    expect(await render.json()).to.deep.include({ code: 'PAYLOAD_TOO_LARGE' });
    const mgmt = await post('/v1/tacker/mgmt');
    expect(mgmt.status).to.equal(400);
    expect(await mgmt.json()).to.deep.include({ code: 'INVALID_REQUEST' });
  });
});
