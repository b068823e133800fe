import { readFileSync } from 'node:fs';
import type { InjectionSpec } from '../injection-spec.js';
import { durationToMs } from '../duration.js';
import { sha256Hex } from '../log.js';
import type { BootstrapFiles, MeshIdentity } from '../mesh/bootstrap-files.js';

/** One file of the bundle the install script consumes (docs/bundle-contract.md). */
export interface BundleFile {
  name: string;
  content: Buffer;
  mode: number;
  /** Secret files are masked in dry runs and never logged; only their sha256 is. */
  isSecret: boolean;
}

export interface InjectionBundle {
  files: BundleFile[];
  identity: MeshIdentity;
}

export const INSTALL_SCRIPT_NAME = 'install-sidecar.sh';
/** With `certificates: istio-ca`, the signed chain joins the bundle after the CSR round trip. */
export const CERT_CHAIN_FILE_NAME = 'cert-chain.pem';
const BUNDLE_FORMAT = '1';
const READY_PORT = 15021;
const MIN_FREE_MB = 256;

let installScriptCache: Buffer | undefined;

/** The static script ships beside the code; read once, it never changes while running. */
export function loadInstallScript(): Buffer {
  installScriptCache ??= readFileSync(new URL('../../cloud-init/install-sidecar.sh', import.meta.url));
  return installScriptCache;
}

export interface PushedPackage {
  fileName: string;
  content: Buffer;
}

export function assembleBundle(spec: InjectionSpec, bootstrap: BootstrapFiles, installScript: Buffer, pushed?: PushedPackage): InjectionBundle {
  const files: BundleFile[] = [
    textFile(INSTALL_SCRIPT_NAME, installScript, 0o700),
    textFile('injector.env', renderInjectorEnv(spec, bootstrap.identity, pushed?.fileName), 0o600),
    textFile('cluster.env', bootstrap.clusterEnv, 0o644),
    textFile('mesh.yaml', bootstrap.meshYaml, 0o644),
    textFile('root-cert.pem', bootstrap.rootCertificate, 0o644),
  ];
  if (bootstrap.istioToken !== undefined) files.push({ name: 'istio-token', content: Buffer.from(bootstrap.istioToken), mode: 0o400, isSecret: true });
  if (bootstrap.hosts !== undefined) files.push(textFile('hosts', bootstrap.hosts, 0o644));
  if (pushed !== undefined) files.push({ name: pushed.fileName, content: pushed.content, mode: 0o600, isSecret: false });
  return { files, identity: bootstrap.identity };
}

function textFile(name: string, content: string | Buffer, mode: number): BundleFile {
  return { name, content: Buffer.isBuffer(content) ? content : Buffer.from(content), mode, isSecret: false };
}

export function packageFormat(spec: InjectionSpec): 'deb' | 'rpm' {
  const location = spec.package.source === 'mirror' ? new URL(spec.package.url).pathname : spec.package.file;
  return location.endsWith('.rpm') ? 'rpm' : 'deb';
}

/** Plain KEY=value lines the script reads without a shell: values are validated, never quoted. */
function renderInjectorEnv(spec: InjectionSpec, identity: MeshIdentity, pushedFileName: string | undefined): string {
  const values: Array<[string, string]> = [
    ['VMSI_FORMAT', BUNDLE_FORMAT],
    ['PACKAGE_FILE', pushedFileName ?? ''],
    ['PACKAGE_URL', spec.package.source === 'mirror' ? spec.package.url : ''],
    ['PACKAGE_SHA256', spec.package.sha256],
    ['PACKAGE_FORMAT', packageFormat(spec)],
    ['READY_TIMEOUT_SECONDS', String(Math.ceil(durationToMs(spec.delivery.readyTimeout) / 1000))],
    ['MIN_FREE_MB', String(MIN_FREE_MB)],
    ['EXPECTED_SPIFFE_ID', identity.spiffeId],
    ['STATUS_PORT', String(READY_PORT)],
    ['CERTIFICATES', spec.mesh.certificates],
  ];
  for (const [key, value] of values) {
    if (/[\r\n]/.test(value)) throw new Error(`injector.env value for ${key} contains a line break`);
  }
  return values.map(([key, value]) => `${key}=${value}\n`).join('');
}

/** What a dry run may show: secret files replaced by their digest. */
export function maskSecrets(bundle: InjectionBundle): InjectionBundle {
  return {
    ...bundle,
    files: bundle.files.map((file) =>
      file.isSecret ? { ...file, content: Buffer.from(`[REDACTED sha256:${sha256Hex(file.content)}]\n`) } : file,
    ),
  };
}
