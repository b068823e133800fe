import { createHash } from 'node:crypto';
import { copyFileSync, rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LabError } from '../lab/lab-error.js';
import { runChecked } from '../lab/run-command.js';

/**
 * A stand-in for Istio's `istio-sidecar` .deb: the real package's file layout, conffiles, postinst
 * behaviour and unit, with a python3 agent in place of pilot-agent/Envoy (see payload/pilot-agent).
 * Nothing in it tells the product it is not the real package, except an X-Vmsi-Stand-In control
 * field meant for people reading `dpkg -s`.
 */
export interface StandInDeb {
  path: string;
  sha256: string;
  version: string;
}

export const defaultSidecarVersion = '1.28.0';

interface PayloadFile {
  source: string;
  target: string;
  mode: number;
}

// Where the real package puts each file (istio/istio tools/packaging).
const payload: PayloadFile[] = [
  { source: 'envoy', target: 'usr/local/bin/envoy', mode: 0o755 },
  { source: 'pilot-agent', target: 'usr/local/bin/pilot-agent', mode: 0o755 },
  { source: 'istio-start.sh', target: 'usr/local/bin/istio-start.sh', mode: 0o755 },
  { source: 'istio.service', target: 'lib/systemd/system/istio.service', mode: 0o644 },
  { source: 'envoy_bootstrap_tmpl.json', target: 'var/lib/istio/envoy/envoy_bootstrap_tmpl.json', mode: 0o644 },
  { source: 'sidecar.env', target: 'var/lib/istio/envoy/sidecar.env', mode: 0o644 },
  { source: 'postinst', target: 'DEBIAN/postinst', mode: 0o755 },
];
const conffiles = ['/var/lib/istio/envoy/envoy_bootstrap_tmpl.json', '/var/lib/istio/envoy/sidecar.env'];
const payloadDir = fileURLToPath(new URL('payload/', import.meta.url));
// Fixed timestamps make the .deb byte-identical for a version, so its sha256 is stable across runs.
const sourceDateEpoch = 1_700_000_000;
const builds = new Map<string, Promise<StandInDeb>>();
const buildDirs: string[] = [];

function control(version: string, architecture: string, installedKb: number): string {
  return [
    'Package: istio-sidecar',
    `Version: ${version}`,
    'License: Apache',
    'Vendor: istio.io',
    `Architecture: ${architecture}`,
    'Maintainer: istio@istio.io',
    `Installed-Size: ${installedKb}`,
    'Depends: iproute2, iptables',
    'Section: default',
    'Priority: optional',
    'Homepage: http://istio.io',
    'X-Vmsi-Stand-In: yes',
    'Description: Istio Sidecar',
    '',
  ].join('\n');
}

async function stagePayload(stage: string, version: string): Promise<number> {
  let bytes = 0;
  for (const file of payload) {
    const target = join(stage, file.target);
    const content = (await readFile(join(payloadDir, file.source), 'utf8')).replaceAll('@VERSION@', version);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content);
    await chmod(target, file.mode);
    bytes += Buffer.byteLength(content);
  }
  return bytes;
}

async function fixTimestamps(stage: string): Promise<void> {
  const paths = new Set<string>();
  for (const file of payload) {
    for (let path = join(stage, file.target); path.startsWith(stage); path = dirname(path)) paths.add(path);
  }
  for (const path of paths) await utimes(path, sourceDateEpoch, sourceDateEpoch);
}

async function build(version: string): Promise<StandInDeb> {
  const workDir = await mkdtemp(join(tmpdir(), 'vmsi-sidecar-deb-'));
  buildDirs.push(workDir);
  const stage = join(workDir, 'stage');
  const bytes = await stagePayload(stage, version);
  const architecture = (await runChecked('dpkg', ['--print-architecture'])).trim();
  await writeFile(join(stage, 'DEBIAN/control'), control(version, architecture, Math.ceil(bytes / 1024)));
  await writeFile(join(stage, 'DEBIAN/conffiles'), `${conffiles.join('\n')}\n`);
  await chmod(join(stage, 'DEBIAN'), 0o755);
  await fixTimestamps(stage);
  const path = join(workDir, `istio-sidecar_${version}_${architecture}.deb`);
  await runChecked('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage, path], {
    env: { SOURCE_DATE_EPOCH: String(sourceDateEpoch) },
  });
  const sha256 = createHash('sha256').update(await readFile(path)).digest('hex');
  return { path, sha256, version };
}

/**
 * Builds the stand-in package for `version` (default 1.28.0) once per test run and copies it into
 * `outDir` as istio-sidecar_<version>_<arch>.deb. Needs only dpkg-deb; no network.
 */
export async function buildStandInSidecarDeb(outDir: string, options: { version?: string } = {}): Promise<StandInDeb> {
  const version = options.version ?? defaultSidecarVersion;
  if (!/^[0-9][A-Za-z0-9.+~-]*$/.test(version)) throw new LabError('Not a Debian package version.', { version });
  let pending = builds.get(version);
  if (pending === undefined) {
    pending = build(version);
    builds.set(version, pending);
    pending.catch(() => builds.delete(version));
  }
  const built = await pending;
  await mkdir(outDir, { recursive: true });
  const path = join(outDir, built.path.split('/').at(-1) ?? 'istio-sidecar.deb');
  if (path !== built.path) copyFileSync(built.path, path);
  return { ...built, path };
}

process.on('exit', () => buildDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
