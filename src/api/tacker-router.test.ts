import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { CALLBACK_PASSWORD, CALLBACK_USER, basicAuthorization, startFullApp, type FullApp } from '../../test/support/full-app.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`../tacker/testdata/${name}`, import.meta.url));

describe('Tacker callback route', function () {
  let app: FullApp;

  before(async function () {
    app = await startFullApp();
  });

  after(async function () {
    await app.close();
  });

  /** As Tacker v1's conductor posts: the JSON text with no Content-Type header. */
  function postAsV1(body: Buffer): Promise<Response> {
    return fetch(`${app.url}/v1/tacker/notifications/v1`, { method: 'POST', headers: { authorization: basicAuthorization(CALLBACK_USER, CALLBACK_PASSWORD) }, body });
  }

  it('answers Tacker v1 identifier creation and deletion notifications, exactly as v1 builds them, with 204 and stores no job', async function () {
    for (const name of ['v1-vnf-identifier-creation.json', 'v1-vnf-identifier-deletion.json']) {
      const response = await postAsV1(fixture(name));
      expect(response.status, name).to.equal(204);
    }
    expect(await app.store.countByState()).to.deep.equal({ pending: 0, running: 0, retry_wait: 0, succeeded: 0, failed_temp: 0, failed: 0 });
  });

  it('stores one job for a completed instantiation, and none for its PROCESSING notification', async function () {
    expect((await postAsV1(fixture('v1-instantiate-processing.json'))).status).to.equal(204);
    expect((await app.store.countByState()).pending).to.equal(0);
    expect((await postAsV1(fixture('v1-instantiate-completed.json'))).status).to.equal(204);
    expect((await postAsV1(fixture('v1-instantiate-completed.json'))).status).to.equal(204);
    expect((await app.store.countByState()).pending).to.equal(1);
  });
});
