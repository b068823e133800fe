import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TEST_ROOT_CERT, makeTestToken } from './test-credentials.js';

/**
 * File mesh credentials as docs/configuration.md lays them out, for identity vm-ns/vm-sa of
 * validSpecInput(): what a packaged service (image, systemd unit) needs to answer a render.
 */
export function writeFileMeshCredentials(dataDir: string, mesh: { trustDomain?: string; clusterId?: string } = {}): void {
  const credentials = path.join(dataDir, 'mesh-credentials');
  mkdirSync(path.join(credentials, 'tokens', 'vm-ns'), { recursive: true });
  mkdirSync(path.join(credentials, 'mesh-config'), { recursive: true });
  writeFileSync(path.join(credentials, 'root-cert.pem'), TEST_ROOT_CERT);
  writeFileSync(path.join(credentials, 'tokens', 'vm-ns', 'vm-sa.jwt'), `${makeTestToken('vm-ns', 'vm-sa')}\n`, { mode: 0o600 });
  writeFileSync(path.join(credentials, 'mesh-config', 'istio.yaml'), `defaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\ntrustDomain: ${mesh.trustDomain ?? 'cluster.local'}\n`);
  if (mesh.clusterId !== undefined) writeFileSync(path.join(credentials, 'cluster-id'), `${mesh.clusterId}\n`);
}
