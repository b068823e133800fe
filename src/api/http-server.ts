import { createHash, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http, { type RequestListener, type Server } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { HttpConfig, TlsConfig } from '../config.js';
import { durationToMs } from '../duration.js';
import { AppError, toAppError } from '../errors.js';
import type { Logger } from '../log.js';
import { problemFor } from './problem-details.js';

export interface RunningHttpServer {
  server: Server;
  /** `http://host:port` or `https://host:port`, with the port actually bound. */
  url: string;
  close(): Promise<void>;
}

/** Node checks header and request deadlines on this period (30 s by default, which lets slow clients overstay). */
const MAX_DEADLINE_CHECK_MS = 1_000;

interface TlsMaterial {
  options: SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean };
  fingerprint: string;
}

async function readTlsFile(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (cause) {
    throw new AppError('INVALID_CONFIG', `The TLS ${what} file ${file} cannot be read.`, { cause });
  }
}

/** The files as one secure-context option set; the digest tells a reload whether anything changed. */
async function readTlsMaterial(tls: TlsConfig): Promise<TlsMaterial> {
  const cert = await readTlsFile(tls.certFile, 'certificate');
  const key = await readTlsFile(tls.keyFile, 'key');
  const ca = tls.clientCaFile === undefined ? undefined : await readTlsFile(tls.clientCaFile, 'client CA');
  const digest = createHash('sha256').update(cert).update(key).update(ca ?? '');
  return {
    options: {
      cert,
      key,
      ...(ca === undefined ? {} : { ca }),
      minVersion: tls.minVersion,
      requestCert: ca !== undefined,
      rejectUnauthorized: ca !== undefined,
    },
    fingerprint: digest.digest('hex'),
  };
}

function certificateFacts(cert: Buffer | string | Array<Buffer | string> | undefined): Record<string, string> {
  try {
    const leaf = new X509Certificate(Array.isArray(cert) ? (cert[0] ?? '') : (cert ?? ''));
    return { subject: leaf.subject, validTo: leaf.validTo, sha256: leaf.fingerprint256 };
  } catch {
    return {};
  }
}

/**
 * Reads the certificate files again every reloadInterval and hands a changed set to new
 * connections (setSecureContext); a set that does not load (a half-written file, a key that does
 * not match) is logged and the previous one stays in service.
 */
function watchCertificates(server: https.Server, tls: TlsConfig, initial: TlsMaterial, logger: Logger): () => void {
  let current = initial.fingerprint;
  let reading = false;
  const timer = setInterval(() => {
    if (reading) return;
    reading = true;
    readTlsMaterial(tls)
      .then((material) => {
        if (material.fingerprint === current) return;
        server.setSecureContext(material.options);
        current = material.fingerprint;
        logger.info('TLS certificate reloaded', certificateFacts(material.options.cert));
      })
      .catch((error: unknown) => {
        logger.error('TLS certificate reload failed; the previous certificate stays in service', { error: toAppError(error).message });
      })
      .finally(() => {
        reading = false;
      });
  }, durationToMs(tls.reloadInterval));
  timer.unref();
  return () => clearInterval(timer);
}

/** Malformed, oversized or too slow requests never reach express: answer them as problem documents too. */
function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, title] =
    error.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout'] : [400, 'Bad Request'];
  const problem = problemFor(new AppError('INVALID_REQUEST', 'The request could not be read.', { retryable: status === 408 }));
  const body = JSON.stringify({ ...problem, title, status });
  socket.end(`HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

function serverOptions(settings: HttpConfig): http.ServerOptions {
  const { limits } = settings;
  const headersTimeout = durationToMs(limits.headersTimeout);
  return {
    headersTimeout,
    requestTimeout: durationToMs(limits.requestTimeout),
    keepAliveTimeout: durationToMs(limits.keepAliveTimeout),
    maxHeaderSize: limits.maxHeaderBytes,
    connectionsCheckingInterval: Math.max(100, Math.min(MAX_DEADLINE_CHECK_MS, Math.floor(headersTimeout / 4))),
  };
}

function listenError(error: Error, host: string, port: number): AppError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new AppError('INVALID_CONFIG', `Port ${port} on ${host} is already in use; choose another with http.port or VMSI_HTTP_PORT.`, { cause: error });
  if (code === 'EACCES') return new AppError('INVALID_CONFIG', `Listening on ${host}:${port} is not permitted for this user.`, { cause: error });
  if (code === 'EADDRNOTAVAIL') return new AppError('INVALID_CONFIG', `${host} is not an address of this machine; fix http.host.`, { cause: error });
  return new AppError('INTERNAL', `The service could not listen on ${host}:${port}.`, { cause: error });
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error) => reject(listenError(error, host, port)));
    server.listen(port, host, () => resolve());
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}

async function createServer(handler: RequestListener, settings: HttpConfig, logger: Logger): Promise<{ server: Server; stopWatching: () => void }> {
  const options = serverOptions(settings);
  if (settings.tls === undefined) return { server: http.createServer(options, handler), stopWatching: () => undefined };
  const material = await readTlsMaterial(settings.tls);
  let server: https.Server;
  try {
    server = https.createServer({ ...options, ...material.options }, handler);
  } catch (cause) {
    throw new AppError('INVALID_CONFIG', 'The TLS certificate, key or client CA does not load (a key that does not match its certificate?).', { cause });
  }
  return { server, stopWatching: watchCertificates(server, settings.tls, material, logger) };
}

/** The listening socket with every limit of http.limits applied, plain or TLS as http.tls says. */
export async function startHttpServer(handler: RequestListener, settings: HttpConfig, logger: Logger): Promise<RunningHttpServer> {
  const { server, stopWatching } = await createServer(handler, settings, logger);
  server.maxConnections = settings.limits.maxConnections;
  server.maxRequestsPerSocket = settings.limits.maxRequestsPerSocket;
  server.on('clientError', answerClientError);
  try {
    await listen(server, settings.port, settings.host);
  } catch (error) {
    stopWatching();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
  return {
    server,
    url: `${settings.tls === undefined ? 'http' : 'https'}://${host}:${port}`,
    close: async () => {
      stopWatching();
      await closeServer(server);
    },
  };
}
