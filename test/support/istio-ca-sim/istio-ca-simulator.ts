import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import type { sendUnaryData, ServerUnaryCall, ServiceDefinition } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { runOpenssl, withTempDir } from './openssl-cli.js';

/**
 * A stand-in for istiod's CA (istio.v1.auth.IstioCertificateService) that behaves as istiod's
 * server does where it matters here (istio/istio security/pkg/server/ca/server.go and
 * authenticate/kubeauth): the bearer token is authenticated first; the certificate's only SAN is
 * the SPIFFE ID derived from the token's identity, whatever the CSR asks for; only the CSR's
 * public key is used; the answer is [leaf, root]. It loads proto/istio-ca.proto with
 * @grpc/proto-loader, a codec independent of the product's protobufjs encoding, so each client
 * test also checks that encoding against the schema.
 */

const PROTO_PATH = fileURLToPath(new URL('../../../proto/istio-ca.proto', import.meta.url));
const SECONDS_PER_DAY = 86_400;

export interface IstioCaIdentity {
  namespace: string;
  serviceAccount: string;
}

export interface IstioCaSimulatorOptions {
  trustDomain: string;
  /** Plays the TokenReview istiod makes; `undefined` means the token is rejected. */
  verifyToken(token: string): IstioCaIdentity | undefined;
  /** DNS name in the serving certificate; istiod's is `istiod.istio-system.svc`. */
  serverName?: string;
  /** Holds every answer this long, to test deadlines and cancellation. */
  responseDelayMs?: number;
  /** Shapes the response from the signed leaf and the root; istiod's default is [leaf, root]. */
  answer?: (leaf: string, root: string) => CaAnswer;
}

/** IstioCertificateResponse as @grpc/proto-loader names its fields. */
export interface CaAnswer {
  certChain: string[];
  rootCert?: { caCert: string[] };
}

export interface RecordedCaRequest {
  /** The request message exactly as it crossed the wire. */
  wireBytes: Buffer;
  csr: string;
  validityDuration: number;
  authorization: string | undefined;
  clusterId: string | undefined;
  outcome: 'signed' | 'unauthenticated' | 'invalid_csr';
  spiffeId?: string;
}

export interface IstioCaSimulator {
  address: string;
  serverName: string;
  rootCertificatePem: string;
  /** Holds the test root's key while running; removed by stop(). */
  workDir: string;
  requests: RecordedCaRequest[];
  stop(): Promise<void>;
}

interface DecodedRequest {
  csr: string;
  validityDuration: number;
}

interface WireRequest {
  wireBytes: Buffer;
  message: DecodedRequest;
}

interface CertificateAuthorityFiles {
  dir: string;
  rootCertificatePem: string;
}

type UnaryCall = ServerUnaryCall<WireRequest, CaAnswer>;

function loadServiceDefinition(): ServiceDefinition {
  const definition = protoLoader.loadSync(PROTO_PATH, { keepCase: false, longs: Number, defaults: true });
  const service = definition['istio.v1.auth.IstioCertificateService'] as unknown as ServiceDefinition;
  const method = service.CreateCertificate;
  if (!method) throw new Error('proto/istio-ca.proto has no CreateCertificate');
  const deserialize = method.requestDeserialize as (bytes: Buffer) => DecodedRequest;
  return {
    CreateCertificate: {
      ...method,
      requestDeserialize: (bytes: Buffer): WireRequest => ({ wireBytes: Buffer.from(bytes), message: deserialize(bytes) }),
    },
  };
}

async function createCertificateAuthority(serverName: string): Promise<CertificateAuthorityFiles> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vmsi-istio-ca-sim-'));
  try {
    return await writeCertificateAuthority(dir, serverName);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function writeCertificateAuthority(dir: string, serverName: string): Promise<CertificateAuthorityFiles> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await runOpenssl(['req', '-x509', ...ec, '-keyout', 'root.key', '-out', 'root.pem', '-days', '2', '-subj', '/O=vmsi-test/CN=Test mesh root',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  await runOpenssl(['req', '-new', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/O=vmsi-test/CN=istiod'], dir);
  await writeFile(path.join(dir, 'server.ext'), `subjectAltName=DNS:${serverName}\nextendedKeyUsage=serverAuth\n`);
  await signRequest(dir, { csrFile: 'server.csr', extFile: 'server.ext', outFile: 'server.pem', days: 2 });
  return { dir, rootCertificatePem: await readFile(path.join(dir, 'root.pem'), 'utf8') };
}

interface SigningJob {
  csrFile: string;
  extFile: string;
  outFile: string;
  days: number;
  /** Replaces the CSR's subject; istiod issues workload certificates with an empty one. */
  subject?: string;
}

async function signRequest(caDir: string, job: SigningJob): Promise<void> {
  const serial = `0x${randomBytes(16).toString('hex')}`;
  const subject = job.subject === undefined ? [] : ['-subj', job.subject];
  await runOpenssl(['x509', '-req', '-in', job.csrFile, '-CA', path.join(caDir, 'root.pem'), '-CAkey', path.join(caDir, 'root.key'),
    '-set_serial', serial, '-days', String(job.days), '-extfile', job.extFile, ...subject, '-out', job.outFile], caDir);
}

/** Signs for `spiffeId`; the CSR contributes its public key and nothing else (no extensions copied). */
async function signWorkloadCsr(ca: CertificateAuthorityFiles, csrPem: string, options: { spiffeId: string; validitySeconds: number }): Promise<string | undefined> {
  return withTempDir('vmsi-istio-ca-sign-', async (dir) => {
    const csrFile = path.join(dir, 'workload.csr');
    await writeFile(csrFile, csrPem);
    try {
      await runOpenssl(['req', '-in', csrFile, '-noout', '-verify'], dir);
    } catch {
      return undefined;
    }
    const extFile = path.join(dir, 'workload.ext');
    await writeFile(extFile, [`subjectAltName=critical,URI:${options.spiffeId}`, 'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth,clientAuth', ''].join('\n'));
    const days = Math.max(1, Math.ceil(options.validitySeconds / SECONDS_PER_DAY));
    const outFile = path.join(dir, 'workload.pem');
    await signRequest(ca.dir, { csrFile, extFile, outFile, days, subject: '/' });
    return readFile(outFile, 'utf8');
  });
}

function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^Bearer (.+)$/.exec(authorization ?? '');
  return match?.[1];
}

function firstMetadataValue(call: UnaryCall, key: string): string | undefined {
  const value = call.metadata.get(key)[0];
  return typeof value === 'string' ? value : undefined;
}

export async function startIstioCaSimulator(options: IstioCaSimulatorOptions): Promise<IstioCaSimulator> {
  const serverName = options.serverName ?? 'istiod.istio-system.svc';
  const ca = await createCertificateAuthority(serverName);
  const requests: RecordedCaRequest[] = [];

  async function handle(call: UnaryCall): Promise<CaAnswer> {
    const { wireBytes, message } = call.request;
    const record: RecordedCaRequest = {
      wireBytes, csr: message.csr, validityDuration: message.validityDuration, outcome: 'unauthenticated',
      authorization: firstMetadataValue(call, 'authorization'), clusterId: firstMetadataValue(call, 'clusterid'),
    };
    requests.push(record);
    if (options.responseDelayMs) await delay(options.responseDelayMs);
    const token = bearerToken(record.authorization);
    const identity = token === undefined ? undefined : options.verifyToken(token);
    if (!identity) throw Object.assign(new Error('request authenticate failure'), { code: grpc.status.UNAUTHENTICATED });
    const spiffeId = `spiffe://${options.trustDomain}/ns/${identity.namespace}/sa/${identity.serviceAccount}`;
    const leaf = await signWorkloadCsr(ca, message.csr, { spiffeId, validitySeconds: message.validityDuration });
    if (leaf === undefined) {
      record.outcome = 'invalid_csr';
      throw Object.assign(new Error('CSR signing error (failed to parse the CSR)'), { code: grpc.status.INVALID_ARGUMENT });
    }
    Object.assign(record, { outcome: 'signed', spiffeId });
    return options.answer ? options.answer(leaf, ca.rootCertificatePem) : { certChain: [leaf, ca.rootCertificatePem] };
  }

  const server = new grpc.Server();
  server.addService(loadServiceDefinition(), {
    CreateCertificate: (call: UnaryCall, callback: sendUnaryData<CaAnswer>): void => {
      handle(call).then(
        (response) => callback(null, response),
        (error: Error & { code?: number }) => callback({ code: error.code ?? grpc.status.INTERNAL, details: error.message }),
      );
    },
  });
  const credentials = grpc.ServerCredentials.createSsl(null, [{
    private_key: await readFile(path.join(ca.dir, 'server.key')),
    cert_chain: await readFile(path.join(ca.dir, 'server.pem')),
  }], false);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', credentials, (error, boundPort) => (error ? reject(error) : resolve(boundPort)));
  });
  return {
    address: `127.0.0.1:${port}`,
    serverName,
    rootCertificatePem: ca.rootCertificatePem,
    workDir: ca.dir,
    requests,
    async stop(): Promise<void> {
      server.forceShutdown();
      await rm(ca.dir, { recursive: true, force: true });
    },
  };
}
