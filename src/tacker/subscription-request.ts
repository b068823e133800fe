import { AppError, type FieldProblem } from '../errors.js';
import { ACTED_ON_OPERATIONS } from './lcm-intents.js';
import { LCM_NOTIFICATION_TYPE } from './sol003-notification.js';
import type { TackerApiVersion } from './sol003-fields.js';

/**
 * LccnSubscriptionRequest for `POST /vnflcm/{v1,v2}/subscriptions`
 * (v2: tacker/sol_refactored/api/schemas/vnflcm_v2.py LccnSubscriptionRequest_V200;
 * v1: tacker/api/schemas/vnf_lcm.py register_subscription, whose filter is free-form).
 *
 * Filter support differs: v2 matches notificationTypes, operationTypes and operationStates
 * (tacker/sol_refactored/common/subscription_utils.py get_matched_subscs). v1 stores the whole
 * filter but dispatches on notificationTypes and operationTypes only
 * (tacker/objects/vnf_lcm_subscriptions.py `_vnf_lcm_subscriptions_get`), so a v1 subscriber still
 * receives every state and must ignore the ones it does not act on; this service does.
 */

/** SOL 013 authentication Tacker applies when it calls back. The request carries these secrets: never log it. */
export type CallbackAuthentication =
  | { type: 'none' }
  | { type: 'basic'; username: string; password: string }
  | { type: 'oauth2'; clientId: string; clientSecret: string; tokenEndpoint: string };

export interface VnfInstanceSubscriptionFilter {
  vnfdIds?: string[];
  vnfInstanceIds?: string[];
  vnfInstanceNames?: string[];
}

export interface SubscriptionRequestOptions {
  apiVersion: TackerApiVersion;
  /** Where Tacker POSTs notifications; Tacker refuses more than 255 characters. */
  callbackUri: string;
  auth: CallbackAuthentication;
  /** Default: the operations the plugin acts on, COMPLETED only. */
  filter?: { vnfInstanceSubscriptionFilter?: VnfInstanceSubscriptionFilter; operationTypes?: readonly string[]; operationStates?: readonly string[] };
  /** v2 only. Default FULL, which the plugin needs; SHORT for a consumer that reads the occurrence anyway. */
  verbosity?: 'FULL' | 'SHORT';
}

export interface LccnSubscriptionRequest {
  filter: {
    vnfInstanceSubscriptionFilter?: VnfInstanceSubscriptionFilter;
    notificationTypes: string[];
    operationTypes: string[];
    operationStates: string[];
  };
  callbackUri: string;
  authentication?: SubscriptionAuthentication;
  /** v2 only; FULL puts affectedVnfcs into the notification, saving a read of the operation occurrence. */
  verbosity?: 'FULL' | 'SHORT';
}

export type SubscriptionAuthentication =
  | { authType: ['BASIC']; paramsBasic: { userName: string; password: string } }
  | { authType: ['OAUTH2_CLIENT_CREDENTIALS']; paramsOauth2ClientCredentials: { clientId: string; clientPassword: string; tokenEndpoint: string } };

/** `callbackUri: {'type': 'string', 'maxLength': 255}` in both APIs' schemas. */
export const MAX_CALLBACK_URI_LENGTH = 255;

export function buildSubscriptionRequest(options: SubscriptionRequestOptions): LccnSubscriptionRequest {
  const problems = [...callbackUriProblems(options.callbackUri), ...authenticationProblems(options.auth)];
  if (problems.length > 0) throw new AppError('INVALID_REQUEST', 'The Tacker subscription request is invalid.', { problems });
  const authentication = subscriptionAuthentication(options.auth);
  return {
    filter: subscriptionFilter(options.filter),
    callbackUri: options.callbackUri,
    ...(authentication === undefined ? {} : { authentication }),
    ...(options.apiVersion === 'v2' ? { verbosity: options.verbosity ?? 'FULL' } : {}),
  };
}

function subscriptionFilter(filter: SubscriptionRequestOptions['filter']): LccnSubscriptionRequest['filter'] {
  return {
    ...(filter?.vnfInstanceSubscriptionFilter ? { vnfInstanceSubscriptionFilter: filter.vnfInstanceSubscriptionFilter } : {}),
    notificationTypes: [LCM_NOTIFICATION_TYPE],
    operationTypes: [...(filter?.operationTypes ?? ACTED_ON_OPERATIONS)],
    operationStates: [...(filter?.operationStates ?? ['COMPLETED'])],
  };
}

function callbackUriProblems(callbackUri: string): FieldProblem[] {
  if (callbackUri.length > MAX_CALLBACK_URI_LENGTH) {
    return [{ path: 'callbackUri', message: `is ${callbackUri.length} characters; Tacker accepts at most ${MAX_CALLBACK_URI_LENGTH}` }];
  }
  return isHttpUrl(callbackUri) ? [] : [{ path: 'callbackUri', message: 'must be an absolute http or https URL' }];
}

function authenticationProblems(auth: CallbackAuthentication): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const require = (path: string, value: string): void => {
    if (value.length === 0) problems.push({ path, message: 'must not be empty' });
  };
  if (auth.type === 'basic') {
    require('auth.username', auth.username);
    require('auth.password', auth.password);
    // RFC 7617: the user-id of Basic credentials cannot contain a colon.
    if (auth.username.includes(':')) problems.push({ path: 'auth.username', message: 'must not contain ":"' });
  }
  if (auth.type === 'oauth2') {
    require('auth.clientId', auth.clientId);
    require('auth.clientSecret', auth.clientSecret);
    if (!isHttpUrl(auth.tokenEndpoint)) problems.push({ path: 'auth.tokenEndpoint', message: 'must be an absolute http or https URL' });
  }
  return problems;
}

/** SOL 013 names: `userName`, and `clientPassword` for the OAuth 2.0 client secret. */
function subscriptionAuthentication(auth: CallbackAuthentication): SubscriptionAuthentication | undefined {
  if (auth.type === 'basic') return { authType: ['BASIC'], paramsBasic: { userName: auth.username, password: auth.password } };
  if (auth.type === 'oauth2') {
    return {
      authType: ['OAUTH2_CLIENT_CREDENTIALS'],
      paramsOauth2ClientCredentials: { clientId: auth.clientId, clientPassword: auth.clientSecret, tokenEndpoint: auth.tokenEndpoint },
    };
  }
  return undefined;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}
