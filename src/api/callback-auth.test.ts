import { expect } from 'chai';
import { generateKeyPairSync, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { authenticateCallback, jwksKeys, verifyJwt, type CallbackAuthenticator } from './callback-auth.js';
import { createTestLogger } from '../../test/support/run-log.js';

const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256' };
const now = Math.floor(Date.now() / 1000);

function jwt(payload: Record<string, unknown>, header: Record<string, unknown> = { alg: 'ES256', kid: 'k1' }): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode(header)}.${encode(payload)}`;
  const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

async function serve(auth: CallbackAuthenticator): Promise<{ url: string; close(): Promise<void> }> {
  const app = express();
  app.use(authenticateCallback(auth, createTestLogger()));
  app.all('/callback', (_req, res) => res.status(204).end());
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('callback authentication', function () {
  it('accepts the configured Basic credentials and challenges anything else with Basic', async function () {
    const service = await serve({ kind: 'basic', username: 'tacker', password: 'p4ssw0rd-long-enough' });
    try {
      const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
      expect((await fetch(service.url, { headers: { authorization: basic('tacker', 'p4ssw0rd-long-enough') } })).status).to.equal(204);
      for (const header of [basic('tacker', 'wrong'), basic('other', 'p4ssw0rd-long-enough'), 'Bearer x', '']) {
        const response = await fetch(service.url, { headers: header ? { authorization: header } : {} });
        expect(response.status).to.equal(401);
        expect(response.headers.get('www-authenticate')).to.match(/^Basic realm=/);
      }
    } finally {
      await service.close();
    }
  });

  it('verifies JWT bearer tokens against a JWKS: signature, expiry, issuer, audience', function () {
    const keys = jwksKeys([jwk]);
    const claims = { iss: 'https://idp.example.net', aud: 'vmsi', exp: now + 300 };
    const check = (token: string): boolean => verifyJwt(token, keys, { issuer: 'https://idp.example.net', audience: 'vmsi' }, now);
    expect(check(jwt(claims))).to.equal(true);
    expect(check(jwt({ ...claims, exp: now - 1 }))).to.equal(false);
    expect(check(jwt({ ...claims, iss: 'https://evil.example.net' }))).to.equal(false);
    expect(check(jwt({ ...claims, aud: 'someone-else' }))).to.equal(false);
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
    expect(check(unsigned)).to.equal(false);
    const { privateKey: otherKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forged = jwt(claims).split('.').slice(0, 2).join('.');
    const forgedSignature = sign('sha256', Buffer.from(forged), { key: otherKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    expect(check(`${forged}.${forgedSignature}`)).to.equal(false);
  });

  it('validates bearer tokens by RFC 7662 introspection, caching active answers briefly', async function () {
    let calls = 0;
    const introspection = createServer((req, res) => {
      calls += 1;
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const token = new URLSearchParams(body).get('token');
        const authorized = req.headers.authorization === `Basic ${Buffer.from('vmsi:client-secret-long').toString('base64')}`;
        res.writeHead(authorized ? 200 : 401, { 'content-type': 'application/json' }).end(JSON.stringify({ active: authorized && token === 'good-token' }));
      });
    });
    await new Promise<void>((resolve) => introspection.listen(0, '127.0.0.1', resolve));
    const introspectionUrl = `http://127.0.0.1:${(introspection.address() as AddressInfo).port}/introspect`;
    const service = await serve({ kind: 'oauth2-introspection', introspectionUrl, clientId: 'vmsi', clientSecret: 'client-secret-long' });
    try {
      expect((await fetch(service.url, { headers: { authorization: 'Bearer good-token' } })).status).to.equal(204);
      expect((await fetch(service.url, { headers: { authorization: 'Bearer good-token' } })).status).to.equal(204);
      expect(calls).to.equal(1);
      const refused = await fetch(service.url, { headers: { authorization: 'Bearer bad-token' } });
      expect(refused.status).to.equal(401);
      expect(refused.headers.get('www-authenticate')).to.match(/^Bearer .*invalid_token/);
    } finally {
      await service.close();
      await new Promise<void>((resolve) => introspection.close(() => resolve()));
    }
  });
});
