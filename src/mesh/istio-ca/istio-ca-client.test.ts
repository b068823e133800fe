import { expect } from 'chai';
import { registerSecret } from '../../log.js';
import { startIstioCaSimulator, type IstioCaSimulator } from '../../../test/support/istio-ca-sim/istio-ca-simulator.js';
import { makeCsr, readSubject, readSubjectAltName } from '../../../test/support/istio-ca-sim/openssl-cli.js';
import { createTestLogger, readRunLog } from '../../../test/support/run-log.js';
import { IstioCaClient } from './istio-ca-client.js';
import { rejection } from '../../../test/support/app-error-assertions.js';

const TRUST_DOMAIN = 'cluster.local';
const GOOD_TOKEN = 'istio-ca-test-token-for-vm-web-0001';
const EXPECTED_SPIFFE_ID = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/web-vm`;
const PRIVATE_KEY = /PRIVATE KEY/;

describe('IstioCaClient', () => {
  let simulator: IstioCaSimulator;
  let client: IstioCaClient;

  before(async () => {
    simulator = await startIstioCaSimulator({
      trustDomain: TRUST_DOMAIN,
      verifyToken: (token) => (token === GOOD_TOKEN ? { namespace: 'shop', serviceAccount: 'web-vm' } : undefined),
    });
    client = new IstioCaClient({
      address: simulator.address,
      rootCertificatePem: simulator.rootCertificatePem,
      servername: simulator.serverName,
      logger: createTestLogger(),
    });
  });

  after(async () => {
    client.close();
    await simulator.stop();
  });

  it('gets a chain whose leaf carries the SPIFFE ID of the token, over TLS verified against the mesh root', async () => {
    const { csrPem } = await makeCsr('/O=vmsi-test');
    const result = await client.createCertificate({ csrPem, validitySeconds: 86_400, token: GOOD_TOKEN, clusterId: 'Kubernetes' });

    expect(result.certChain).to.have.length(2);
    expect(result.certChain[1]).to.equal(simulator.rootCertificatePem);
    expect(await readSubjectAltName(result.certChain[0] ?? '')).to.equal(`URI:${EXPECTED_SPIFFE_ID}`);
    const recorded = simulator.requests.at(-1);
    expect(recorded?.authorization).to.equal(`Bearer ${GOOD_TOKEN}`);
    expect(recorded?.clusterId).to.equal('Kubernetes');
    expect(recorded?.validityDuration).to.equal(86_400);
    expect(recorded?.csr).to.equal(csrPem);
  });

  it('gets the token identity even when the CSR claims another SPIFFE ID', async () => {
    const { csrPem } = await makeCsr('/CN=admin.kube-system', [
      '-addext', 'subjectAltName=URI:spiffe://evil.example/ns/kube-system/sa/admin',
    ]);
    const result = await client.createCertificate({ csrPem, validitySeconds: 3600, token: GOOD_TOKEN });

    expect(await readSubjectAltName(result.certChain[0] ?? '')).to.equal(`URI:${EXPECTED_SPIFFE_ID}`);
    expect(await readSubject(result.certChain[0] ?? '')).to.equal('subject=');
  });

  it('reads the roots from root_cert when a newer istiod lists them apart from the chain', async () => {
    const newer = await startIstioCaSimulator({
      trustDomain: TRUST_DOMAIN,
      verifyToken: () => ({ namespace: 'shop', serviceAccount: 'web-vm' }),
      answer: (leaf, root) => ({ certChain: [leaf], rootCert: { caCert: [root] } }),
    });
    const newerClient = new IstioCaClient({ address: newer.address, rootCertificatePem: newer.rootCertificatePem, servername: newer.serverName });
    try {
      const { csrPem } = await makeCsr('/O=vmsi-test');
      const result = await newerClient.createCertificate({ csrPem, validitySeconds: 3600, token: GOOD_TOKEN });
      expect(result.certChain).to.have.length(1);
      expect(result.rootCertificates).to.deep.equal([newer.rootCertificatePem]);
    } finally {
      newerClient.close();
      await newer.stop();
    }
  });

  it('refuses a response without the root, as pilot-agent does', async () => {
    const broken = await startIstioCaSimulator({
      trustDomain: TRUST_DOMAIN,
      verifyToken: () => ({ namespace: 'shop', serviceAccount: 'web-vm' }),
      answer: (leaf) => ({ certChain: [leaf] }),
    });
    const brokenClient = new IstioCaClient({ address: broken.address, rootCertificatePem: broken.rootCertificatePem, servername: broken.serverName });
    try {
      const { csrPem } = await makeCsr('/O=vmsi-test');
      const error = await rejection(brokenClient.createCertificate({ csrPem, validitySeconds: 3600, token: GOOD_TOKEN }));
      expect(error.code).to.equal('MESH_INCONSISTENT');
    } finally {
      brokenClient.close();
      await broken.stop();
    }
  });

  it('reports a rejected token as CREDENTIALS_UNAVAILABLE, not retryable', async () => {
    const { csrPem } = await makeCsr('/O=vmsi-test');
    const error = await rejection(client.createCertificate({ csrPem, validitySeconds: 3600, token: 'istio-ca-test-token-revoked-0002' }));

    expect(error.code).to.equal('CREDENTIALS_UNAVAILABLE');
    expect(error.retryable).to.equal(false);
    expect(error.details.grpcCode).to.equal('UNAUTHENTICATED');
    expect(simulator.requests.at(-1)?.outcome).to.equal('unauthenticated');
  });

  it('reports a CSR istiod cannot parse as INVALID_REQUEST', async () => {
    const error = await rejection(client.createCertificate({ csrPem: 'not a CSR', validitySeconds: 3600, token: GOOD_TOKEN }));

    expect(error.code).to.equal('INVALID_REQUEST');
    expect(error.retryable).to.equal(false);
  });

  it('reports an unreachable istiod as retryable SERVICE_UNREACHABLE', async () => {
    const stopped = await startIstioCaSimulator({ trustDomain: TRUST_DOMAIN, verifyToken: () => undefined });
    await stopped.stop();
    const unreachable = new IstioCaClient({ address: stopped.address, rootCertificatePem: stopped.rootCertificatePem, servername: stopped.serverName });
    try {
      const { csrPem } = await makeCsr('/O=vmsi-test');
      const error = await rejection(unreachable.createCertificate({ csrPem, validitySeconds: 3600, token: GOOD_TOKEN }));
      expect(error.code).to.equal('SERVICE_UNREACHABLE');
      expect(error.retryable).to.equal(true);
    } finally {
      unreachable.close();
    }
  });

  it('refuses a server whose certificate does not chain to the mesh root', async () => {
    const other = await startIstioCaSimulator({ trustDomain: TRUST_DOMAIN, verifyToken: () => ({ namespace: 'shop', serviceAccount: 'web-vm' }) });
    const mistrusting = new IstioCaClient({ address: other.address, rootCertificatePem: simulator.rootCertificatePem, servername: other.serverName });
    try {
      const { csrPem } = await makeCsr('/O=vmsi-test');
      const error = await rejection(mistrusting.createCertificate({ csrPem, validitySeconds: 3600, token: GOOD_TOKEN }));
      expect(error.code).to.equal('SERVICE_UNREACHABLE');
      expect(other.requests).to.have.length(0);
    } finally {
      mistrusting.close();
      await other.stop();
    }
  });

  it('stops a call when the caller aborts it', async () => {
    const controller = new AbortController();
    controller.abort();
    const { csrPem } = await makeCsr('/O=vmsi-test');
    const error = await rejection(client.createCertificate({ csrPem, validitySeconds: 3600, token: GOOD_TOKEN, signal: controller.signal }));

    expect(error.code).to.equal('SERVICE_UNREACHABLE');
    expect(error.retryable).to.equal(false);
  });

  it('reports a call istiod does not answer in time as retryable SERVICE_UNREACHABLE', async () => {
    const slow = await startIstioCaSimulator({ trustDomain: TRUST_DOMAIN, verifyToken: () => undefined, responseDelayMs: 2_000 });
    const impatient = new IstioCaClient({ address: slow.address, rootCertificatePem: slow.rootCertificatePem, servername: slow.serverName, callTimeoutMs: 300 });
    try {
      const { csrPem } = await makeCsr('/O=vmsi-test');
      const error = await rejection(impatient.createCertificate({ csrPem, validitySeconds: 3600, token: GOOD_TOKEN }));
      expect(error.code).to.equal('SERVICE_UNREACHABLE');
      expect(error.retryable).to.equal(true);
      expect(error.details.grpcCode).to.equal('DEADLINE_EXCEEDED');
    } finally {
      impatient.close();
      await slow.stop();
    }
  });

  it('cancels a call in flight when the caller aborts', async () => {
    const slow = await startIstioCaSimulator({ trustDomain: TRUST_DOMAIN, verifyToken: () => undefined, responseDelayMs: 2_000 });
    const patient = new IstioCaClient({ address: slow.address, rootCertificatePem: slow.rootCertificatePem, servername: slow.serverName });
    try {
      const { csrPem } = await makeCsr('/O=vmsi-test');
      const controller = new AbortController();
      const pending = rejection(patient.createCertificate({ csrPem, validitySeconds: 3600, token: GOOD_TOKEN, signal: controller.signal }));
      setTimeout(() => controller.abort(), 200);
      const error = await pending;
      expect(error.details.grpcCode).to.equal('CANCELLED');
      expect(error.retryable).to.equal(false);
    } finally {
      patient.close();
      await slow.stop();
    }
  });

  it('never sends a private key and never logs the token or a key', async () => {
    const { csrPem, keyPem } = await makeCsr('/O=vmsi-test');
    registerSecret(keyPem);
    await client.createCertificate({ csrPem, validitySeconds: 3600, token: GOOD_TOKEN });

    expect(simulator.requests.length).to.be.greaterThan(0);
    for (const request of simulator.requests) {
      expect(request.wireBytes.toString('latin1')).not.to.match(PRIVATE_KEY);
      expect(request.wireBytes.includes(Buffer.from(keyPem))).to.equal(false);
    }
    const log = readRunLog();
    expect(log).to.include('Requesting a workload certificate from istiod');
    expect(log).not.to.include(GOOD_TOKEN);
    expect(log).not.to.match(PRIVATE_KEY);
  });
});
