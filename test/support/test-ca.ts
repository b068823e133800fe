import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runOpenssl } from './istio-ca-sim/openssl-cli.js';

/** A certificate authority made in a test's own directory, with the openssl CLI (node:crypto cannot issue certificates). */
export interface TestCa {
  dir: string;
  certFile: string;
  keyFile: string;
}

export interface IssuedCertificate {
  certFile: string;
  keyFile: string;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function makeTestCa(dir: string, name = 'ca'): Promise<TestCa> {
  await runOpenssl(['req', '-x509', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/O=vmsi-test/CN=Test ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  return { dir, certFile: path.join(dir, `${name}.pem`), keyFile: path.join(dir, `${name}.key`) };
}

/** A leaf signed by `ca`: serverAuth for 127.0.0.1 and localhost, or clientAuth. */
export async function issueCertificate(ca: TestCa, options: { name: string; commonName: string; usage: 'server' | 'client' }): Promise<IssuedCertificate> {
  const { dir } = ca;
  const ext = options.usage === 'server' ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' : 'extendedKeyUsage=clientAuth\n';
  await writeFile(path.join(dir, `${options.name}.ext`), ext);
  await runOpenssl(['req', '-new', ...EC_KEY, '-keyout', `${options.name}.key`, '-out', `${options.name}.csr`, '-subj', `/O=vmsi-test/CN=${options.commonName}`], dir);
  await runOpenssl(['x509', '-req', '-in', `${options.name}.csr`, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', `0x${randomBytes(16).toString('hex')}`,
    '-days', '2', '-extfile', `${options.name}.ext`, '-out', `${options.name}.pem`], dir);
  return { certFile: path.join(dir, `${options.name}.pem`), keyFile: path.join(dir, `${options.name}.key`) };
}
