import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from './config.js';
import { durationToMs } from './duration.js';

describe('config', function () {
  it('runs on embedded defaults with no file and no environment', function () {
    const config = loadConfig({ env: {} });
    expect(config.http).to.include({ host: '127.0.0.1', port: 8080 });
    expect(config.http.auth.mode).to.equal('bearer');
    expect(config.mesh.tokenLifetime).to.equal('1h');
  });

  it('has safe HTTP limits by default: header and request timeouts, connection cap, rate budgets, body limits per route', function () {
    const { http } = loadConfig({ env: {} });
    expect(http.limits).to.deep.equal({ headersTimeout: '10s', requestTimeout: '60s', keepAliveTimeout: '5s', maxRequestsPerSocket: 1000, maxConnections: 512, maxHeaderBytes: 16384 });
    expect(http.rateLimit).to.deep.equal({ window: '1m', unauthenticated: 120, authenticated: 3000 });
    expect(http.bodyLimits['/v1/orchestrator/events']).to.equal(64 * 1024);
    expect(http.tls).to.equal(undefined);
  });

  it('refuses a plain-http Tacker callback URL when the service serves HTTPS', function () {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-config-tls-'));
    const file = path.join(dir, 'config.yaml');
    const tacker = { callbackAuth: { kind: 'none' }, callbackBaseUrl: 'http://vmsi.example:8443', defaults: { ssh: { user: 'u', privateKeySecret: 'k' }, package: { source: 'mirror', url: 'https://p.example/x.deb', sha256: 'a'.repeat(64) }, mesh: { gateway: { ip: '198.51.100.1' } } } };
    writeFileSync(file, JSON.stringify({ http: { tls: { certFile: 'c.pem', keyFile: 'k.pem' } }, openstack: { authUrl: 'https://keystone.example/v3', auth: { method: 'application_credential', id: 'x', secretFile: 's' } }, tacker }));
    expect(() => loadConfig({ file, env: {} })).to.throw().with.property('problems').that.deep.includes({ path: 'tacker.callbackBaseUrl', message: 'the service serves HTTPS (http.tls): the callback URL Tacker is given must be https' });
    writeFileSync(file, JSON.stringify({ http: { tls: { certFile: 'c.pem', keyFile: 'k.pem' } }, openstack: { authUrl: 'https://keystone.example/v3', auth: { method: 'application_credential', id: 'x', secretFile: 's' } }, tacker: { ...tacker, callbackBaseUrl: 'https://vmsi.example:8443' } }));
    expect(loadConfig({ file, env: {} }).tacker?.callbackBaseUrl).to.equal('https://vmsi.example:8443');
  });

  it('lets the environment override the file', function () {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-config-'));
    const file = path.join(dir, 'config.yaml');
    writeFileSync(file, 'http:\n  port: 9000\nlog:\n  level: debug\n');
    const config = loadConfig({ file, env: { VMSI_HTTP_PORT: '9100' } });
    expect(config.http.port).to.equal(9100);
    expect(config.log.level).to.equal('debug');
  });

  it('reports every problem of a bad config at once', function () {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-config-'));
    const file = path.join(dir, 'config.yaml');
    writeFileSync(file, 'http:\n  port: -1\n  colour: blue\nmesh:\n  tokenLifetime: soon\n');
    try {
      loadConfig({ file, env: {} });
      expect.fail('expected INVALID_CONFIG');
    } catch (error) {
      expect(error).to.have.property('code', 'INVALID_CONFIG');
      const paths = (error as { problems: Array<{ path: string }> }).problems.map((problem) => problem.path);
      expect(paths).to.include.members(['http.port', 'http', 'mesh.tokenLifetime']);
    }
  });

  it('reads durations written as 250ms, 90s, 5m, 1h30m', function () {
    expect(durationToMs('250ms')).to.equal(250);
    expect(durationToMs('90s')).to.equal(90_000);
    expect(durationToMs('1h30m')).to.equal(5_400_000);
  });
});
