import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { IstioCaClient } from '../../../src/mesh/istio-ca/istio-ca-client.js';
import { startIstioCaSimulator } from './istio-ca-simulator.js';
import { makeCsr, runOpenssl, withTempDir } from './openssl-cli.js';

describe('Istio CA simulator', () => {
  it('issues a leaf that verifies against its root, for the identity the token maps to', async () => {
    const seen: string[] = [];
    const simulator = await startIstioCaSimulator({
      trustDomain: 'example.org',
      verifyToken: (token) => {
        seen.push(token);
        return { namespace: 'ns-a', serviceAccount: 'sa-b' };
      },
    });
    const client = new IstioCaClient({ address: simulator.address, rootCertificatePem: simulator.rootCertificatePem, servername: simulator.serverName });
    try {
      const { csrPem } = await makeCsr('/O=vmsi-test');
      const { certChain } = await client.createCertificate({ csrPem, validitySeconds: 3600, token: 'istio-ca-sim-test-token-0003' });

      expect(seen).to.deep.equal(['istio-ca-sim-test-token-0003']);
      expect(simulator.requests).to.have.length(1);
      expect(simulator.requests[0]).to.include({ outcome: 'signed', spiffeId: 'spiffe://example.org/ns/ns-a/sa/sa-b' });
      const verified = await withTempDir('vmsi-sim-verify-', async (dir) => {
        await writeFile(path.join(dir, 'root.pem'), certChain[1] ?? '');
        await writeFile(path.join(dir, 'leaf.pem'), certChain[0] ?? '');
        return runOpenssl(['verify', '-CAfile', 'root.pem', 'leaf.pem'], dir);
      });
      expect(verified).to.include('leaf.pem: OK');
    } finally {
      client.close();
      await simulator.stop();
    }
  });

  it('removes its CA key material when stopped', async () => {
    const simulator = await startIstioCaSimulator({ trustDomain: 'example.org', verifyToken: () => undefined });
    expect(existsSync(path.join(simulator.workDir, 'root.key'))).to.equal(true);

    await simulator.stop();

    expect(existsSync(simulator.workDir)).to.equal(false);
  });
});
