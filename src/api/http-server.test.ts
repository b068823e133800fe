import { expect } from 'chai';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { configSchema, type HttpConfig } from '../config.js';
import { createLogger } from '../log.js';
import { issueCertificate, makeTestCa, type IssuedCertificate, type TestCa } from '../../test/support/test-ca.js';
import { rejection } from '../../test/support/app-error-assertions.js';
import { startHttpServer, type RunningHttpServer } from './http-server.js';

const logger = createLogger({ silent: true });

function httpSettings(http: Record<string, unknown> = {}): HttpConfig {
  return configSchema.parse({ http: { host: '127.0.0.1', port: 0, ...http } }).http;
}

const answerOk = (_req: unknown, res: { end(body: string): void }): void => res.end('ok');

function portOf(server: RunningHttpServer): number {
  return Number(new URL(server.url).port);
}

interface TlsAnswer {
  subject?: string;
  body?: string;
  error?: string;
}

/** One HTTPS GET over a fresh connection: the served certificate's CN, the body, or why the handshake failed. */
function getOverTls(server: RunningHttpServer, options: tls.ConnectionOptions): Promise<TlsAnswer> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port: portOf(server), servername: 'localhost', ...options });
    let body = '';
    let subject: string | undefined;
    socket.on('secureConnect', () => {
      const commonName = socket.getPeerCertificate().subject.CN;
      subject = Array.isArray(commonName) ? commonName[0] : commonName;
      socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    socket.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    socket.on('error', (error: Error) => resolve({ error: error.message }));
    socket.on('close', () => {
      resolve({ ...(subject === undefined ? {} : { subject }), body: body.split('\r\n\r\n').slice(1).join('') });
    });
  });
}

/** Resolves when the server has closed the socket, or with 'open' after `waitMs`. */
function closedWithin(socket: net.Socket, waitMs: number): Promise<'closed' | 'open'> {
  // A paused socket never sees the server's FIN: read (and drop) whatever the server answers.
  socket.resume();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('open'), waitMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

describe('HTTP server', function () {
  this.timeout(30_000);
  let dir: string;
  let ca: TestCa;
  let serverCert: IssuedCertificate;
  let running: RunningHttpServer | undefined;

  before(async function () {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmsi-https-'));
    ca = await makeTestCa(dir);
    serverCert = await issueCertificate(ca, { name: 'server', commonName: 'first', usage: 'server' });
  });

  afterEach(async function () {
    await running?.close();
    running = undefined;
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  describe('TLS', function () {
    it('serves HTTPS with the configured certificate, trusted through the CA made here', async function () {
      running = await startHttpServer(answerOk, httpSettings({ tls: { certFile: serverCert.certFile, keyFile: serverCert.keyFile } }), logger);
      expect(running.url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
      const answer = await getOverTls(running, { ca: await readFile(ca.certFile) });
      expect(answer).to.deep.include({ subject: 'first', body: 'ok' });
      expect((await getOverTls(running, {})).error).to.match(/self[- ]signed|unable to (get|verify)/i);
    });

    it('refuses a TLS version below the configured minimum and accepts TLS 1.2 by default', async function () {
      const caPem = await readFile(ca.certFile);
      running = await startHttpServer(answerOk, httpSettings({ tls: { certFile: serverCert.certFile, keyFile: serverCert.keyFile } }), logger);
      expect(await getOverTls(running, { ca: caPem, maxVersion: 'TLSv1.2' })).to.deep.include({ body: 'ok' });
      await running.close();
      running = await startHttpServer(answerOk, httpSettings({ tls: { certFile: serverCert.certFile, keyFile: serverCert.keyFile, minVersion: 'TLSv1.3' } }), logger);
      expect((await getOverTls(running, { ca: caPem, maxVersion: 'TLSv1.2' })).error).to.match(/version|protocol/i);
      expect(configSchema.parse({}).http.tls).to.equal(undefined);
      expect(httpSettings({ tls: { certFile: 'c', keyFile: 'k' } }).tls?.minVersion).to.equal('TLSv1.2');
    });

    it('with a client CA, serves only clients that present a certificate it signed (mTLS)', async function () {
      const clientCert = await issueCertificate(ca, { name: 'client', commonName: 'tacker', usage: 'client' });
      const otherCa = await makeTestCa(dir, 'other-ca');
      const strangerCert = await issueCertificate(otherCa, { name: 'stranger', commonName: 'stranger', usage: 'client' });
      const caPem = await readFile(ca.certFile);
      running = await startHttpServer(answerOk, httpSettings({ tls: { certFile: serverCert.certFile, keyFile: serverCert.keyFile, clientCaFile: ca.certFile } }), logger);
      const withCert = await getOverTls(running, { ca: caPem, cert: await readFile(clientCert.certFile), key: await readFile(clientCert.keyFile) });
      expect(withCert.body).to.equal('ok');
      const withoutCert = await getOverTls(running, { ca: caPem });
      expect(withoutCert.body ?? '').to.equal('');
      const stranger = await getOverTls(running, { ca: caPem, cert: await readFile(strangerCert.certFile), key: await readFile(strangerCert.keyFile) });
      expect(stranger.body ?? '').to.equal('');
    });

    it('serves a renewed certificate to new connections without a restart, and keeps the old one when the new files do not load', async function () {
      const certFile = path.join(dir, 'live.pem');
      const keyFile = path.join(dir, 'live.key');
      await copyFile(serverCert.certFile, certFile);
      await copyFile(serverCert.keyFile, keyFile);
      const caPem = await readFile(ca.certFile);
      running = await startHttpServer(answerOk, httpSettings({ tls: { certFile, keyFile, reloadInterval: '100ms' } }), logger);
      expect((await getOverTls(running, { ca: caPem })).subject).to.equal('first');
      const renewed = await issueCertificate(ca, { name: 'renewed', commonName: 'second', usage: 'server' });
      await copyFile(renewed.keyFile, keyFile);
      // A key without its certificate yet: the reload must fail and keep serving the first one.
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect((await getOverTls(running, { ca: caPem })).subject).to.equal('first');
      await copyFile(renewed.certFile, certFile);
      let subject: string | undefined;
      for (let attempt = 0; attempt < 50 && subject !== 'second'; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        subject = (await getOverTls(running, { ca: caPem })).subject;
      }
      expect(subject).to.equal('second');
    });

    it('refuses to start with a key that does not match the certificate, saying so', async function () {
      const other = await issueCertificate(ca, { name: 'mismatch', commonName: 'mismatch', usage: 'server' });
      const error = await rejection(startHttpServer(answerOk, httpSettings({ tls: { certFile: serverCert.certFile, keyFile: other.keyFile } }), logger));
      expect(error.code).to.equal('INVALID_CONFIG');
      const missing = await rejection(startHttpServer(answerOk, httpSettings({ tls: { certFile: path.join(dir, 'absent.pem'), keyFile: other.keyFile } }), logger));
      expect(missing.message).to.include('absent.pem');
    });
  });

  describe('limits', function () {
    it('closes connections that send their headers byte by byte once headersTimeout has passed', async function () {
      running = await startHttpServer(answerOk, httpSettings({ limits: { headersTimeout: '1s', requestTimeout: '2s' } }), logger);
      const port = portOf(running);
      const sockets = await Promise.all(
        Array.from({ length: 5 }, () => new Promise<net.Socket>((resolve) => {
          const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
          socket.on('error', () => undefined);
        })),
      );
      const header = 'GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ';
      let sent = 0;
      const drip = setInterval(() => {
        for (const socket of sockets) if (socket.writable) socket.write(header[sent % header.length] ?? 'a');
        sent += 1;
      }, 100);
      try {
        const outcomes = await Promise.all(sockets.map((socket) => closedWithin(socket, 8_000)));
        expect(outcomes).to.deep.equal(['closed', 'closed', 'closed', 'closed', 'closed']);
      } finally {
        clearInterval(drip);
        for (const socket of sockets) socket.destroy();
      }
    });

    it('refuses connections beyond maxConnections', async function () {
      running = await startHttpServer(answerOk, httpSettings({ limits: { maxConnections: 2 } }), logger);
      const port = portOf(running);
      const open = await Promise.all([0, 1].map(() => new Promise<net.Socket>((resolve) => {
        const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
      })));
      const third = net.connect(port, '127.0.0.1');
      third.on('error', () => undefined);
      try {
        expect(await closedWithin(third, 5_000)).to.equal('closed');
        expect(open.every((socket) => !socket.destroyed)).to.equal(true);
      } finally {
        for (const socket of [...open, third]) socket.destroy();
      }
    });

    it('answers an oversized header block with 431 as a problem document', async function () {
      running = await startHttpServer(answerOk, httpSettings({ limits: { maxHeaderBytes: 2048 } }), logger);
      const response = await fetch(`${running.url}/`, { headers: { 'x-big': 'a'.repeat(4096) } });
      expect(response.status).to.equal(431);
      expect(response.headers.get('content-type')).to.equal('application/problem+json');
      expect(await response.json()).to.deep.include({ status: 431, code: 'INVALID_REQUEST' });
    });

    it('refuses a headersTimeout longer than the requestTimeout in the config', function () {
      expect(configSchema.safeParse({ http: { limits: { headersTimeout: '2m', requestTimeout: '1m' } } }).success).to.equal(false);
    });
  });
});
