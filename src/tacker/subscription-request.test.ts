import { expect } from 'chai';
import { AppError } from '../errors.js';
import { buildSubscriptionRequest, type SubscriptionRequestOptions } from './subscription-request.js';

const CALLBACK = 'https://vmsi.example:8443/tacker/v2/notifications';

function refusal(options: SubscriptionRequestOptions): AppError {
  try {
    buildSubscriptionRequest(options);
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected INVALID_REQUEST');
}

describe('LccnSubscriptionRequest', () => {
  it('asks v2 for completed LCM operations of the acted-on kinds, FULL, with Basic authentication', () => {
    expect(buildSubscriptionRequest({ apiVersion: 'v2', callbackUri: CALLBACK, auth: { type: 'basic', username: 'tacker', password: 'p4ss' } })).to.deep.equal({
      filter: {
        notificationTypes: ['VnfLcmOperationOccurrenceNotification'],
        operationTypes: ['INSTANTIATE', 'SCALE', 'SCALE_TO_LEVEL', 'HEAL', 'CHANGE_EXT_CONN', 'CHANGE_VNFPKG', 'TERMINATE'],
        operationStates: ['COMPLETED'],
      },
      callbackUri: CALLBACK,
      authentication: { authType: ['BASIC'], paramsBasic: { userName: 'tacker', password: 'p4ss' } },
      verbosity: 'FULL',
    });
  });

  it('sends v1 no verbosity, and OAuth 2.0 client credentials with SOL 013 names', () => {
    const request = buildSubscriptionRequest({
      apiVersion: 'v1',
      callbackUri: CALLBACK,
      auth: { type: 'oauth2', clientId: 'tacker', clientSecret: 's3cret', tokenEndpoint: 'https://keycloak.example/realms/nfv/protocol/openid-connect/token' },
      filter: { vnfInstanceSubscriptionFilter: { vnfdIds: ['b1bb0ce7-ebca-4fa7-95ed-4840d7000000'] } },
    });
    expect(request).not.to.have.property('verbosity');
    expect(request.authentication).to.deep.equal({
      authType: ['OAUTH2_CLIENT_CREDENTIALS'],
      paramsOauth2ClientCredentials: { clientId: 'tacker', clientPassword: 's3cret', tokenEndpoint: 'https://keycloak.example/realms/nfv/protocol/openid-connect/token' },
    });
    expect(request.filter.vnfInstanceSubscriptionFilter).to.deep.equal({ vnfdIds: ['b1bb0ce7-ebca-4fa7-95ed-4840d7000000'] });
  });

  it('leaves authentication out when Tacker calls back without it', () => {
    expect(buildSubscriptionRequest({ apiVersion: 'v2', callbackUri: CALLBACK, auth: { type: 'none' } })).not.to.have.property('authentication');
  });

  it('refuses a callbackUri longer than the 255 characters Tacker accepts', () => {
    const callbackUri = `https://vmsi.example/${'a'.repeat(235)}`;
    expect(callbackUri).to.have.length(256);
    expect(refusal({ apiVersion: 'v2', callbackUri, auth: { type: 'none' } }).problems).to.deep.equal([{ path: 'callbackUri', message: 'is 256 characters; Tacker accepts at most 255' }]);
    expect(() => buildSubscriptionRequest({ apiVersion: 'v2', callbackUri: callbackUri.slice(0, 255), auth: { type: 'none' } })).not.to.throw();
  });

  it('lists every problem: relative callbackUri, empty secret, colon in a Basic user, bad token endpoint', () => {
    expect(refusal({ apiVersion: 'v1', callbackUri: '/notifications', auth: { type: 'basic', username: 'a:b', password: '' } }).problems.map((problem) => problem.path)).to.deep.equal([
      'callbackUri',
      'auth.password',
      'auth.username',
    ]);
    expect(refusal({ apiVersion: 'v2', callbackUri: CALLBACK, auth: { type: 'oauth2', clientId: 'x', clientSecret: 'y', tokenEndpoint: 'keycloak' } }).problems.map((problem) => problem.path)).to.deep.equal([
      'auth.tokenEndpoint',
    ]);
  });
});
