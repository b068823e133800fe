import { readFile } from 'node:fs/promises';
import type { JsonWebKey } from 'node:crypto';
import type { CallbackAuthenticator } from '../api/callback-auth.js';
import type { CallbackAuthConfig, Config } from '../config.js';
import { AppError } from '../errors.js';
import type { CallbackAuthentication } from '../tacker/subscription-request.js';
import type { TackerApiVersion } from '../tacker/sol003-fields.js';
import { readSecretFile } from './wiring-parts.js';

/**
 * How Tacker authenticates when it calls this service back, from the config's two sides: what a
 * callback route checks, and what a subscription tells Tacker to send. Every route Tacker calls
 * (the plugin's and the orchestrator's) and every subscription made for them uses these.
 */

function callbackAuthOf(config: Config, apiVersion: TackerApiVersion): CallbackAuthConfig {
  const tacker = config.tacker;
  if (tacker === undefined) throw new AppError('INVALID_CONFIG', 'The config has no tacker section.');
  return tacker.callbackAuthByApi[apiVersion] ?? tacker.callbackAuth;
}

export async function callbackAuthenticator(config: Config, apiVersion: TackerApiVersion): Promise<CallbackAuthenticator> {
  const auth = callbackAuthOf(config, apiVersion);
  switch (auth.kind) {
    case 'none':
      return { kind: 'none' };
    case 'basic':
      return { kind: 'basic', username: auth.username, password: await readSecretFile(auth.passwordFile, 'Callback password') };
    case 'oauth2-introspection':
      return { kind: 'oauth2-introspection', introspectionUrl: auth.introspectionUrl, clientId: auth.clientId, clientSecret: await readSecretFile(auth.clientSecretFile, 'Introspection client secret') };
    case 'oauth2-jwks': {
      const jwks = JSON.parse(await readFile(auth.jwksFile, 'utf8')) as { keys?: JsonWebKey[] };
      return { kind: 'oauth2-jwks', keys: jwks.keys ?? [], ...(auth.issuer === undefined ? {} : { issuer: auth.issuer }), ...(auth.audience === undefined ? {} : { audience: auth.audience }) };
    }
  }
}

/** What Tacker must send when it calls back, as the subscription states it (secrets read from their files). */
export async function subscriptionAuthentication(config: Config, apiVersion: TackerApiVersion): Promise<CallbackAuthentication> {
  const auth = callbackAuthOf(config, apiVersion);
  if (auth.kind === 'none') return { type: 'none' };
  if (auth.kind === 'basic') return { type: 'basic', username: auth.username, password: await readSecretFile(auth.passwordFile, 'Callback password') };
  const oauth2 = config.tacker?.oauth2;
  if (oauth2 === undefined) throw new AppError('INVALID_CONFIG', 'OAuth2 callbacks need tacker.oauth2 (token endpoint and client credentials for Tacker).');
  return { type: 'oauth2', clientId: oauth2.clientId, clientSecret: await readSecretFile(oauth2.clientSecretFile, 'OAuth2 client secret'), tokenEndpoint: oauth2.tokenEndpoint };
}
