import type { Clock } from '../../../src/clock.js';
import { basicAuthorization, sendCallback } from './callback-client.js';
import type { SimSubscription, SubscriptionAuthentication } from './vnf-model.js';

/** What Tacker's HTTP clients put in User-Agent; v2 goes through keystoneauth1, v1 through plain requests. */
export const V2_USER_AGENT = 'keystoneauth1/5.11.0 python-requests/2.32.3 CPython/3.12.3';
export const V1_USER_AGENT = 'python-requests/2.32.3';

/** keystoneauth's AuthorizationFailure: the OAuth2 plugin returned no header, so nothing is sent. */
export class CallbackAuthorizationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CallbackAuthorizationError';
  }
}

/**
 * The Authorization header v2 sends to a callback, built anew for every request as
 * subscription_utils._get_notification_auth_handle does: BASIC from paramsBasic, or an OAuth2
 * token fetched per request (http_client.OAuth2AuthPlugin.get_headers calls get_token each time).
 */
export async function v2Authorization(subscription: SimSubscription): Promise<string | undefined> {
  const auth = subscription.authentication;
  if (auth === undefined) return undefined;
  if (auth.authType.includes('OAUTH2_CLIENT_CERT')) throw new CallbackAuthorizationError('OAUTH2_CLIENT_CERT (RFC 8705 mTLS) is not simulated');
  if (auth.authType.includes('OAUTH2_CLIENT_CREDENTIALS')) {
    const token = await fetchV2Token(auth.paramsOauth2ClientCredentials ?? {});
    if (token === undefined) throw new CallbackAuthorizationError('No valid authentication is available');
    return `Bearer ${token}`;
  }
  if (auth.authType.includes('BASIC')) return basicFrom(auth.paramsBasic);
  throw new CallbackAuthorizationError(`AuthType ${auth.authType.join(',')} not found`);
}

function basicFrom(params: SubscriptionAuthentication['paramsBasic']): string {
  return basicAuthorization(params?.userName ?? '', params?.password ?? '');
}

/**
 * http_client.OAuth2AuthPlugin.get_token: POST with client credentials as HTTP Basic and
 * `grant_type=client_credentials` as a form. HttpClient sets Accept from its content_type
 * argument, hence the form type in Accept. Any status but 200 yields no token.
 */
async function fetchV2Token(params: NonNullable<SubscriptionAuthentication['paramsOauth2ClientCredentials']>): Promise<string | undefined> {
  const response = await sendCallback({
    url: params.tokenEndpoint ?? '',
    method: 'POST',
    headers: {
      'User-Agent': V2_USER_AGENT,
      Accept: 'application/x-www-form-urlencoded',
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: basicAuthorization(params.clientId ?? '', params.clientPassword ?? ''),
    },
    body: 'grant_type=client_credentials',
  });
  if (response.status !== 200) return undefined;
  const body = JSON.parse(response.body) as { access_token?: unknown };
  return typeof body.access_token === 'string' ? body.access_token : undefined;
}

interface V1OAuth2Client {
  kind: 'oauth2';
  params: NonNullable<SubscriptionAuthentication['paramsOauth2ClientCredentials']>;
  accessToken?: string;
  refreshAt?: number;
}

type V1AuthClient = { kind: 'basic'; header: string } | V1OAuth2Client;

/**
 * v1's auth.auth_manager (tacker/common/auth.py): one client per subscription id, made on first use
 * and cached for the life of the process. BASIC or OAuth2 is chosen by which params are present,
 * not by authType. The OAuth2 token is fetched once, with a GET (sic) carrying the form, refreshed
 * when `expires_in` runs out, and re-fetched after a 401; the failed request itself is not repeated.
 */
export class V1AuthManager {
  private readonly clients = new Map<string, V1AuthClient>();

  constructor(
    private readonly clock: Clock,
    private readonly tokenTimeoutMs: number,
  ) {}

  /** conductor_server.__set_auth_subscription */
  async prepare(subscription: SimSubscription): Promise<void> {
    const auth = subscription.authentication;
    if (auth === undefined || this.clients.has(subscription.id)) return;
    if (auth.paramsBasic !== undefined) {
      this.clients.set(subscription.id, { kind: 'basic', header: basicFrom(auth.paramsBasic) });
      return;
    }
    const params = auth.paramsOauth2ClientCredentials;
    if (params === undefined || (params.tokenEndpoint ?? '').trim() === '') return;
    const client: V1OAuth2Client = { kind: 'oauth2', params };
    this.clients.set(subscription.id, client);
    await this.applyToken(client);
  }

  /** The header for the next request; throws as `"Bearer " + None` does when no token was ever obtained. */
  async authorization(subscriptionId: string): Promise<string | undefined> {
    const client = this.clients.get(subscriptionId);
    if (client === undefined) return undefined;
    if (client.kind === 'basic') return client.header;
    if (client.refreshAt !== undefined && this.clock.now() >= client.refreshAt) await this.applyToken(client);
    if (client.accessToken === undefined) throw new TypeError('can only concatenate str (not "NoneType") to str');
    return `Bearer ${client.accessToken}`;
  }

  async onResponse(subscriptionId: string, status: number): Promise<void> {
    const client = this.clients.get(subscriptionId);
    if (client?.kind === 'oauth2' && status === 401) await this.applyToken(client);
  }

  /** _OAuth2Session.apply_access_token_info: a failed fetch keeps whatever token was there. */
  private async applyToken(client: V1OAuth2Client): Promise<void> {
    try {
      const response = await sendCallback({
        url: client.params.tokenEndpoint ?? '',
        method: 'GET',
        headers: {
          'User-Agent': V1_USER_AGENT,
          Accept: '*/*',
          Connection: 'keep-alive',
          'Content-Type': 'application/x-www-form-urlencoded',
          Authorization: basicAuthorization(client.params.clientId ?? '', client.params.clientPassword ?? ''),
        },
        body: 'grant_type=client_credentials',
        timeoutMs: this.tokenTimeoutMs,
      });
      if (response.status >= 400) return;
      const body = JSON.parse(response.body) as { access_token?: unknown; expires_in?: unknown };
      client.accessToken = typeof body.access_token === 'string' ? body.access_token : undefined;
      client.refreshAt = typeof body.expires_in === 'number' ? this.clock.now() + body.expires_in * 1000 : undefined;
    } catch {
      // requests.exceptions.RequestException is logged and swallowed.
    }
  }
}
