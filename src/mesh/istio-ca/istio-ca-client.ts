import * as grpc from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { AppError, type ErrorCode } from '../../errors.js';
import { redactText, registerSecret, sha256Hex, type Logger } from '../../log.js';
import {
  decodeIstioCertificateResponse,
  encodeIstioCertificateRequest,
  type IstioCertificateRequest,
  type IstioCertificateResponse,
} from './istio-ca-messages.js';

/** The one method pilot-agent calls on istiod's CA (istio/api security/v1alpha1/ca.proto). */
const CREATE_CERTIFICATE_PATH = '/istio.v1.auth.IstioCertificateService/CreateCertificate';
const DEFAULT_CALL_TIMEOUT_MS = 30_000;

export interface IstioCaClientOptions {
  /** `host:port` of istiod's CA, usually `istiod.istio-system.svc:15012`. */
  address: string;
  /** The mesh root certificate (PEM); istiod's serving certificate must chain to it. */
  rootCertificatePem: string;
  /** Name to verify istiod's certificate against when `address` is an IP or another name. */
  servername?: string;
  /** Bounds one CreateCertificate call, connection included. */
  callTimeoutMs?: number;
  logger?: Logger;
}

export interface CreateCertificateInput {
  /** PKCS#10 request made on the VM; the key stays there. */
  csrPem: string;
  validitySeconds: number;
  /** Service account token (audience `istio-ca`); istiod derives the identity from it. */
  token: string;
  /** Sent as `ClusterID` metadata, like pilot-agent, so a multi-cluster istiod picks the right API server. */
  clusterId?: string;
  signal?: AbortSignal;
}

export interface CreateCertificateResult {
  /** PEM certificates, leaf first, as istiod returned them. */
  certChain: string[];
  /** Roots istiod listed separately (newer servers); empty when they end `certChain`. */
  rootCertificates: string[];
}

interface GrpcErrorMapping {
  code: ErrorCode;
  retryable: boolean;
  message: string;
}

const UNREACHABLE: GrpcErrorMapping = { code: 'SERVICE_UNREACHABLE', retryable: true, message: "istiod's CA could not be reached." };

const GRPC_ERRORS: ReadonlyMap<number, GrpcErrorMapping> = new Map([
  [grpc.status.UNAUTHENTICATED, { code: 'CREDENTIALS_UNAVAILABLE', retryable: false, message: "istiod's CA rejected the service account token." }],
  [grpc.status.PERMISSION_DENIED, { code: 'CREDENTIALS_UNAVAILABLE', retryable: false, message: "istiod's CA refused to sign for this identity." }],
  [grpc.status.INVALID_ARGUMENT, { code: 'INVALID_REQUEST', retryable: false, message: "istiod's CA rejected the certificate signing request." }],
  [grpc.status.UNAVAILABLE, UNREACHABLE],
  [grpc.status.DEADLINE_EXCEEDED, { ...UNREACHABLE, message: "istiod's CA did not answer in time." }],
  [grpc.status.RESOURCE_EXHAUSTED, { ...UNREACHABLE, message: "istiod's CA is overloaded." }],
]);

const CANCELLED: GrpcErrorMapping = { code: 'SERVICE_UNREACHABLE', retryable: false, message: 'The certificate request was cancelled.' };
const OTHER: GrpcErrorMapping = { code: 'SERVICE_UNREACHABLE', retryable: false, message: "istiod's CA failed to sign the certificate." };

function isServiceError(value: unknown): value is ServiceError {
  return value instanceof Error && typeof (value as { code?: unknown }).code === 'number';
}

/** Converts a gRPC failure at this adapter's edge; `retryable` comes from the status code only. */
export function toIstioCaError(error: unknown): AppError {
  if (!isServiceError(error)) return new AppError('SERVICE_UNREACHABLE', "istiod's CA call failed.", { retryable: true, cause: error });
  const mapping = GRPC_ERRORS.get(error.code) ?? (error.code === grpc.status.CANCELLED ? CANCELLED : OTHER);
  return new AppError(mapping.code, mapping.message, {
    retryable: mapping.retryable,
    details: { grpcCode: grpc.status[error.code] ?? error.code, grpcDetails: redactText(error.details) },
  });
}

/** istiod answers leaf + roots (pilot-agent rejects fewer than two certificates, so do we). */
function checkResponse(response: IstioCertificateResponse): CreateCertificateResult {
  if (response.certChain.length === 0 || response.certChain.length + response.rootCertificates.length < 2) {
    throw new AppError('MESH_INCONSISTENT', "istiod's CA returned an incomplete certificate chain.", {
      details: { certChainLength: response.certChain.length, rootCertificateCount: response.rootCertificates.length },
    });
  }
  return { certChain: response.certChain, rootCertificates: response.rootCertificates };
}

/**
 * Asks istiod's CA (istio.v1.auth.IstioCertificateService, port 15012) to sign a CSR made on a VM,
 * the way pilot-agent does: TLS verified against the mesh root, the service account token as a
 * bearer credential. Only the CSR travels; the private key never leaves the VM.
 */
export class IstioCaClient {
  private readonly client: grpc.Client;
  private readonly callTimeoutMs: number;

  constructor(private readonly options: IstioCaClientOptions) {
    const channelOptions: grpc.ChannelOptions = options.servername
      ? { 'grpc.ssl_target_name_override': options.servername, 'grpc.default_authority': options.servername }
      : {};
    const credentials = grpc.credentials.createSsl(Buffer.from(options.rootCertificatePem, 'utf8'));
    this.client = new grpc.Client(options.address, credentials, channelOptions);
    this.callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  }

  async createCertificate(input: CreateCertificateInput): Promise<CreateCertificateResult> {
    registerSecret(input.token);
    this.options.logger?.info('Requesting a workload certificate from istiod', {
      address: this.options.address,
      csrSha256: sha256Hex(input.csrPem),
      tokenSha256: sha256Hex(input.token),
      validitySeconds: input.validitySeconds,
    });
    const response = checkResponse(await this.call(input));
    this.options.logger?.info('istiod signed the workload certificate', {
      address: this.options.address,
      certChainLength: response.certChain.length,
    });
    return response;
  }

  close(): void {
    this.client.close();
  }

  private call(input: CreateCertificateInput): Promise<IstioCertificateResponse> {
    const request: IstioCertificateRequest = { csr: input.csrPem, validityDurationSeconds: input.validitySeconds };
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${input.token}`);
    if (input.clusterId) metadata.set('clusterid', input.clusterId);
    return new Promise((resolve, reject) => {
      if (input.signal?.aborted) {
        reject(toIstioCaError(Object.assign(new Error('cancelled before the call'), { code: grpc.status.CANCELLED, details: '' })));
        return;
      }
      const call = this.client.makeUnaryRequest(
        CREATE_CERTIFICATE_PATH,
        encodeIstioCertificateRequest,
        decodeIstioCertificateResponse,
        request,
        metadata,
        { deadline: Date.now() + this.callTimeoutMs },
        (error, response) => {
          input.signal?.removeEventListener('abort', cancel);
          if (error || !response) reject(toIstioCaError(error));
          else resolve(response);
        },
      );
      const cancel = (): void => call.cancel();
      input.signal?.addEventListener('abort', cancel, { once: true });
    });
  }
}
