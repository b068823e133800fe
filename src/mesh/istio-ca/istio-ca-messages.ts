import protobuf from 'protobufjs';

/**
 * The two messages of istio.v1.auth.IstioCertificateService, encoded and decoded by protobufjs from
 * the schema in proto/istio-ca.proto (read next to the code, like cloud-init/, from src/ and dist/
 * alike), so the wire format follows the .proto rather than hand-kept field numbers.
 */

export interface IstioCertificateRequest {
  csr: string;
  validityDurationSeconds: number;
}

export interface IstioCertificateResponse {
  certChain: string[];
  /** `root_cert.ca_cert`; empty when the server put the roots at the end of `certChain`. */
  rootCertificates: string[];
}

interface Messages {
  request: protobuf.Type;
  response: protobuf.Type;
}

let messages: Messages | undefined;

function loadMessages(): Messages {
  if (messages === undefined) {
    // keepCase: the .proto's own field names (cert_chain, validity_duration), as on the wire.
    const root = protobuf.loadSync(new URL('../../../proto/istio-ca.proto', import.meta.url).pathname, new protobuf.Root());
    messages = {
      request: root.lookupType('istio.v1.auth.IstioCertificateRequest'),
      response: root.lookupType('istio.v1.auth.IstioCertificateResponse'),
    };
  }
  return messages;
}

export function encodeIstioCertificateRequest(request: IstioCertificateRequest): Buffer {
  if (!Number.isSafeInteger(request.validityDurationSeconds) || request.validityDurationSeconds < 0) {
    throw new RangeError('validity_duration must be a non-negative whole number of seconds');
  }
  const { request: type } = loadMessages();
  // proto3 leaves default values off the wire, as protoc-generated code does; protobufjs writes
  // every field that is set, so defaults are simply not set.
  const fields: Record<string, unknown> = {};
  if (request.csr.length > 0) fields.csr = request.csr;
  if (request.validityDurationSeconds > 0) fields.validityDuration = request.validityDurationSeconds;
  return Buffer.from(type.encode(type.fromObject(fields)).finish());
}

/** Unknown fields are skipped, as protobuf requires, so newer istiod versions stay readable. */
export function decodeIstioCertificateResponse(buffer: Buffer): IstioCertificateResponse {
  const { response: type } = loadMessages();
  let decoded: protobuf.Message;
  try {
    checkFraming(buffer);
    decoded = type.decode(buffer);
  } catch (error) {
    // A cut-off answer must never yield part of a chain.
    throw new RangeError(`truncated or malformed IstioCertificateResponse: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const plain = type.toObject(decoded, { arrays: true }) as { certChain: string[]; rootCert?: { caCert?: string[] } };
  return { certChain: plain.certChain, rootCertificates: plain.rootCert?.caCert ?? [] };
}

/**
 * protobufjs reads a string whose length runs past the end without complaint, so a cut-off answer
 * would decode to a shortened last certificate. Walking the frames with its Reader first (skip
 * checks every length against the buffer) makes a truncated message an error.
 */
function checkFraming(buffer: Uint8Array): void {
  const reader = protobuf.Reader.create(buffer);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === 0) throw new RangeError('field number 0');
    if ((tag & 7) !== 2) {
      reader.skipType(tag & 7);
      continue;
    }
    const length = reader.uint32();
    const start = reader.pos;
    reader.skip(length);
    // root_cert (field 2) is itself a message of length-delimited strings.
    if (tag >>> 3 === 2) checkFraming(buffer.subarray(start, start + length));
  }
}
