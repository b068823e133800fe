import { expect } from 'chai';
import { decodeIstioCertificateResponse, encodeIstioCertificateRequest } from './istio-ca-messages.js';

function lengthDelimited(field: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(field << 3) | 2, payload.length]), payload]);
}

describe('Istio CA messages', () => {
  it('encodes csr as field 1 and validity_duration as varint field 3, as ca.proto numbers them', () => {
    const bytes = encodeIstioCertificateRequest({ csr: 'CSR', validityDurationSeconds: 86_400 });

    // 86400 = 0x15180 → varint 80 a3 05
    expect(bytes.toString('hex')).to.equal('0a03435352' + '18' + '80a305');
  });

  it('leaves proto3 defaults off the wire', () => {
    expect(encodeIstioCertificateRequest({ csr: '', validityDurationSeconds: 0 })).to.have.length(0);
  });

  it('refuses a validity that is not a whole number of seconds', () => {
    expect(() => encodeIstioCertificateRequest({ csr: 'CSR', validityDurationSeconds: 1.5 })).to.throw(RangeError);
  });

  it('decodes cert_chain in order and root_cert.ca_cert, skipping fields it does not know', () => {
    const roots = lengthDelimited(1, Buffer.from('ROOT'));
    const bytes = Buffer.concat([
      lengthDelimited(1, Buffer.from('LEAF')),
      Buffer.from([(7 << 3) | 0, 0x96, 0x01]),
      Buffer.from([(8 << 3) | 5, 1, 2, 3, 4]),
      lengthDelimited(9, Buffer.from('unknown')),
      lengthDelimited(1, Buffer.from('INTERMEDIATE')),
      lengthDelimited(2, roots),
    ]);

    expect(decodeIstioCertificateResponse(bytes)).to.deep.equal({ certChain: ['LEAF', 'INTERMEDIATE'], rootCertificates: ['ROOT'] });
  });

  it('rejects a truncated message instead of returning part of a chain', () => {
    const bytes = lengthDelimited(1, Buffer.from('LEAF')).subarray(0, 4);

    expect(() => decodeIstioCertificateResponse(bytes)).to.throw(RangeError, 'truncated');
  });
});

describe('Istio CA messages against an independent codec of proto/istio-ca.proto', () => {
  // @grpc/proto-loader is the schema loader the simulator uses; its serializer is the reference.
  async function referenceCodec(): Promise<{ serializeRequest: (value: object) => Buffer; serializeResponse: (value: object) => Buffer }> {
    const loader = await import('@grpc/proto-loader');
    const definition = loader.loadSync(new URL('../../../proto/istio-ca.proto', import.meta.url).pathname, { keepCase: true, longs: Number });
    const method = (definition['istio.v1.auth.IstioCertificateService'] as Record<string, { requestSerialize: (value: object) => Buffer; responseSerialize: (value: object) => Buffer }>).CreateCertificate;
    if (method === undefined) throw new Error('CreateCertificate missing from the proto');
    return { serializeRequest: method.requestSerialize, serializeResponse: method.responseSerialize };
  }

  it('encodes requests to the same bytes as the reference codec', async () => {
    const reference = await referenceCodec();
    for (const request of [{ csr: 'CSR', validityDurationSeconds: 86_400 }, { csr: '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n', validityDurationSeconds: 1 }, { csr: 'x'.repeat(300), validityDurationSeconds: 2 ** 40 }]) {
      expect(encodeIstioCertificateRequest(request).toString('hex')).to.equal(reference.serializeRequest({ csr: request.csr, validity_duration: request.validityDurationSeconds }).toString('hex'));
    }
  });

  it('decodes what the reference codec encodes', async () => {
    const reference = await referenceCodec();
    const bytes = reference.serializeResponse({ cert_chain: ['LEAF', 'INTERMEDIATE'], root_cert: { ca_cert: ['ROOT-A', 'ROOT-B'] } });
    expect(decodeIstioCertificateResponse(bytes)).to.deep.equal({ certChain: ['LEAF', 'INTERMEDIATE'], rootCertificates: ['ROOT-A', 'ROOT-B'] });
    expect(decodeIstioCertificateResponse(reference.serializeResponse({ cert_chain: ['LEAF', 'ROOT'] }))).to.deep.equal({ certChain: ['LEAF', 'ROOT'], rootCertificates: [] });
  });
});
