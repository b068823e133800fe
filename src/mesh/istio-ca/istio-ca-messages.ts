/**
 * Protobuf wire encoding of the two messages of istio.v1.auth.IstioCertificateService
 * (proto/istio-ca.proto). Written by hand because they are tiny and the product then needs no
 * run-time schema loader (docs/istio-ca.md says why).
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

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const REQUEST_CSR = 1;
const REQUEST_VALIDITY_DURATION = 3;
const RESPONSE_CERT_CHAIN = 1;
const RESPONSE_ROOT_CERT = 2;
const ROOTS_CA_CERT = 1;

function encodeVarint(value: bigint): Buffer {
  const bytes: number[] = [];
  let rest = BigInt.asUintN(64, value);
  while (rest >= 0x80n) {
    bytes.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  bytes.push(Number(rest));
  return Buffer.from(bytes);
}

function encodeTag(field: number, wireType: number): Buffer {
  return encodeVarint(BigInt((field << 3) | wireType));
}

function encodeStringField(field: number, value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  return Buffer.concat([encodeTag(field, WIRE_LEN), encodeVarint(BigInt(bytes.length)), bytes]);
}

export function encodeIstioCertificateRequest(request: IstioCertificateRequest): Buffer {
  if (!Number.isSafeInteger(request.validityDurationSeconds) || request.validityDurationSeconds < 0) {
    throw new RangeError('validity_duration must be a non-negative whole number of seconds');
  }
  // proto3 leaves default values off the wire, as protoc-generated code does.
  const parts: Buffer[] = [];
  if (request.csr.length > 0) parts.push(encodeStringField(REQUEST_CSR, request.csr));
  if (request.validityDurationSeconds > 0) {
    parts.push(encodeTag(REQUEST_VALIDITY_DURATION, WIRE_VARINT), encodeVarint(BigInt(request.validityDurationSeconds)));
  }
  return Buffer.concat(parts);
}

interface WireField {
  field: number;
  wireType: number;
  /** The payload of a length-delimited field; empty for the other wire types. */
  bytes: Buffer;
}

class WireReader {
  private offset = 0;

  constructor(private readonly buffer: Buffer) {}

  hasMore(): boolean {
    return this.offset < this.buffer.length;
  }

  readVarint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const byte = this.buffer[this.offset];
      if (byte === undefined) throw new RangeError('truncated varint');
      this.offset += 1;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
    }
    throw new RangeError('varint longer than 10 bytes');
  }

  readField(): WireField {
    const tag = this.readVarint();
    const field = Number(tag >> 3n);
    const wireType = Number(tag & 7n);
    if (field === 0) throw new RangeError('field number 0');
    return { field, wireType, bytes: this.readPayload(wireType) };
  }

  private readPayload(wireType: number): Buffer {
    switch (wireType) {
      case WIRE_VARINT:
        this.readVarint();
        return Buffer.alloc(0);
      case WIRE_I64:
        return this.skip(8);
      case WIRE_I32:
        return this.skip(4);
      case WIRE_LEN:
        return this.take(Number(this.readVarint()));
      default:
        throw new RangeError(`unsupported wire type ${wireType}`);
    }
  }

  private skip(length: number): Buffer {
    this.take(length);
    return Buffer.alloc(0);
  }

  private take(length: number): Buffer {
    const end = this.offset + length;
    if (end > this.buffer.length) throw new RangeError('truncated field');
    const bytes = this.buffer.subarray(this.offset, end);
    this.offset = end;
    return bytes;
  }
}

function readFields(buffer: Buffer): WireField[] {
  const reader = new WireReader(buffer);
  const fields: WireField[] = [];
  while (reader.hasMore()) fields.push(reader.readField());
  return fields;
}

function stringsOf(fields: WireField[], field: number): string[] {
  return fields.filter((item) => item.field === field && item.wireType === WIRE_LEN).map((item) => item.bytes.toString('utf8'));
}

/** Unknown fields are skipped, as protobuf requires, so newer istiod versions stay readable. */
export function decodeIstioCertificateResponse(buffer: Buffer): IstioCertificateResponse {
  const fields = readFields(buffer);
  const rootCertificates = fields
    .filter((item) => item.field === RESPONSE_ROOT_CERT && item.wireType === WIRE_LEN)
    .flatMap((item) => stringsOf(readFields(item.bytes), ROOTS_CA_CERT));
  return { certChain: stringsOf(fields, RESPONSE_CERT_CHAIN), rootCertificates };
}
