import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { CALLBACK_PASSWORD, CALLBACK_USER, basicAuthorization, startFullApp, type FullApp } from '../../test/support/full-app.js';

const testdata = (name: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(`../tacker/testdata/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;

describe("the orchestrator's Tacker callback", function () {
  let app: FullApp;
  const authorization = basicAuthorization(CALLBACK_USER, CALLBACK_PASSWORD);

  before(async function () {
    app = await startFullApp();
  });

  after(async function () {
    await app.close();
  });

  function post(body: unknown, headers: Record<string, string> = { authorization }): Promise<Response> {
    return fetch(`${app.url}/v1/orchestrator/tacker/notifications`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  }

  it("answers Tacker's test GET with 204, and only with Tacker's credentials", async function () {
    expect((await fetch(`${app.url}/v1/orchestrator/tacker/notifications`, { headers: { authorization } })).status).to.equal(204);
    const refused = await fetch(`${app.url}/v1/orchestrator/tacker/notifications`);
    expect(refused.status).to.equal(401);
    expect(refused.headers.get('content-type')).to.match(/^application\/problem\+json/);
  });

  it("stores an operation's result before the 204, once however often it comes", async function () {
    const failed = testdata('v2-scale-failed-temp.json');
    expect((await post(failed)).status).to.equal(204);
    expect((await post({ ...failed, id: 'a-copy-from-a-second-subscription' })).status).to.equal(204);
    expect(await app.inbox.latestOperationEvent(String(failed.vnfLcmOpOccId))).to.deep.include({
      vnfLcmOpOccId: failed.vnfLcmOpOccId,
      vnfInstanceId: failed.vnfInstanceId,
      operation: 'SCALE',
      operationState: 'FAILED_TEMP',
      time: Date.parse('2026-05-01T12:05:09Z'),
    });
  });

  it('acknowledges what is not a result (STARTING, PROCESSING, identifier notifications) and keeps none of it', async function () {
    for (const name of ['v2-instantiate-starting.json', 'v2-instantiate-processing.json', 'v2-vnf-identifier-creation.json']) {
      const notification = testdata(name);
      expect((await post(notification)).status, name).to.equal(204);
      if (typeof notification.vnfLcmOpOccId === 'string') expect(await app.inbox.latestOperationEvent(notification.vnfLcmOpOccId), name).to.equal(undefined);
    }
  });

  it('refuses a body that is no notification with a problem document, and one without credentials before reading it', async function () {
    const malformed = await post('{"notificationType": "VnfLcmOperationOccurrenceNotification", "operationState": 7}');
    expect(malformed.status).to.equal(400);
    expect(malformed.headers.get('content-type')).to.match(/^application\/problem\+json/);
    expect((await post('{not json')).status).to.equal(400);
    expect((await post(testdata('v2-instantiate-completed.json'), { authorization: basicAuthorization(CALLBACK_USER, 'wrong') })).status).to.equal(401);
    expect(await app.inbox.latestOperationEvent(String(testdata('v2-instantiate-completed.json').vnfLcmOpOccId))).to.equal(undefined);
  });
});
