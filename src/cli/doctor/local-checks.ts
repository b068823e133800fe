import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { GENERATED_TOKEN_FILE } from '../../api/api-tokens.js';
import { resolveDataPath, type CallbackAuthConfig, type Config } from '../../config.js';
import { check, type CheckResult } from './doctor-check.js';

interface NamedFile {
  what: string;
  file: string;
  /** Holds a secret: other users must not be able to read it. */
  isSecret: boolean;
}

function callbackAuthFiles(auth: CallbackAuthConfig | undefined, route: string): NamedFile[] {
  if (auth === undefined) return [];
  if (auth.kind === 'basic') return [{ what: `Tacker ${route} callback password`, file: auth.passwordFile, isSecret: true }];
  if (auth.kind === 'oauth2-introspection') return [{ what: `Tacker ${route} introspection client secret`, file: auth.clientSecretFile, isSecret: true }];
  if (auth.kind === 'oauth2-jwks') return [{ what: `Tacker ${route} JWKS`, file: auth.jwksFile, isSecret: false }];
  return [];
}

function tackerFiles(config: Config): NamedFile[] {
  const tacker = config.tacker;
  if (tacker === undefined) return [];
  return [
    ...callbackAuthFiles(tacker.callbackAuth, 'callback'),
    ...callbackAuthFiles(tacker.callbackAuthByApi.v1, 'v1'),
    ...callbackAuthFiles(tacker.callbackAuthByApi.v2, 'v2'),
    ...(tacker.oauth2 === undefined ? [] : [{ what: 'Tacker OAuth2 client secret', file: tacker.oauth2.clientSecretFile, isSecret: true }]),
  ];
}

function openstackFiles(config: Config): NamedFile[] {
  const openstack = config.openstack;
  if (openstack === undefined) return [];
  const secretFile = openstack.auth.method === 'password' ? openstack.auth.passwordFile : openstack.auth.secretFile;
  return [
    { what: 'OpenStack credential', file: secretFile, isSecret: true },
    ...(openstack.caBundleFile === undefined ? [] : [{ what: 'OpenStack CA bundle', file: openstack.caBundleFile, isSecret: false }]),
  ];
}

function apiTokenFiles(config: Config): NamedFile[] {
  if (config.http.auth.mode === 'none') return [];
  const tokens = config.http.auth.tokens;
  if (tokens.length === 0) return [{ what: 'generated API token', file: resolveDataPath(config, GENERATED_TOKEN_FILE), isSecret: true }];
  return tokens.map((token) => ({ what: `API token ${token.name}`, file: token.file, isSecret: true }));
}

/** Every file the configuration names that the service reads at start or at first use. */
export function credentialFilesOf(config: Config): NamedFile[] {
  const webhook = config.notify.webhook;
  const orchestratorSecret = config.orchestrator?.eventSecretFile;
  const kubeconfig = config.kubernetes?.kubeconfig;
  return [
    ...apiTokenFiles(config),
    ...(webhook === undefined ? [] : [{ what: 'webhook HMAC secret', file: webhook.secretFile, isSecret: true }]),
    ...(orchestratorSecret === undefined ? [] : [{ what: 'orchestrator event secret', file: orchestratorSecret, isSecret: true }]),
    ...(kubeconfig === undefined ? [] : [{ what: 'kubeconfig', file: kubeconfig, isSecret: true }]),
    ...openstackFiles(config),
    ...tackerFiles(config),
  ];
}

/**
 * Readable by other users, or by a group other than the service's own: a Kubernetes Secret volume
 * with fsGroup, or a unit's `Group=`, makes files group-readable for the service alone.
 */
function isTooOpen(mode: number, gid: number): boolean {
  const isOwnGroup = typeof process.getgid === 'function' && process.getgid() === gid;
  return (mode & 0o007) !== 0 || ((mode & 0o070) !== 0 && !isOwnGroup);
}

type FileFinding = { level: 'ok' } | { level: 'warn' | 'fail'; message: string };

async function inspectFile(named: NamedFile): Promise<FileFinding> {
  let mode: number;
  let gid: number;
  try {
    const info = await stat(named.file);
    if (!info.isFile()) return { level: 'fail', message: `${named.what} (${named.file}) is not a regular file` };
    mode = info.mode;
    gid = info.gid;
    const content = await readFile(named.file);
    if (content.toString('utf8').trim() === '') return { level: 'fail', message: `${named.what} (${named.file}) is empty` };
  } catch (error) {
    return { level: 'fail', message: `${named.what} (${named.file}) cannot be read: ${(error as NodeJS.ErrnoException).code ?? 'error'}` };
  }
  if (named.isSecret && isTooOpen(mode, gid)) {
    return { level: 'warn', message: `${named.what} (${named.file}) is readable by other users (mode ${(mode & 0o777).toString(8)}); chmod 600 it` };
  }
  return { level: 'ok' };
}

/**
 * The generated API token appears only after the first start; before that its absence is expected
 * and the service will write it.
 */
function isNotYetGenerated(named: NamedFile, finding: FileFinding): boolean {
  return named.what === 'generated API token' && finding.level === 'fail' && finding.message.endsWith('ENOENT');
}

export async function credentialFilesCheck(config: Config): Promise<CheckResult> {
  const title = 'Credential files readable';
  const files = credentialFilesOf(config);
  const findings: FileFinding[] = [];
  for (const named of files) {
    const finding = await inspectFile(named);
    if (!isNotYetGenerated(named, finding)) findings.push(finding);
  }
  const count = findings.length;
  const problems = findings.filter((finding): finding is Exclude<FileFinding, { level: 'ok' }> => finding.level !== 'ok');
  const messages = problems.map((problem) => problem.message);
  if (problems.some((problem) => problem.level === 'fail')) {
    return check('credentials', title, { status: 'fail', detail: `${problems.length} of ${count} files have problems`, findings: messages, hint: 'Create each file the config names, readable by the service user; secrets in files of mode 0600.' });
  }
  if (problems.length > 0) return check('credentials', title, { status: 'warn', detail: `${count} files readable, ${problems.length} too open`, findings: messages, hint: 'chmod 600 secret files.' });
  return check('credentials', title, { status: 'pass', detail: count === 0 ? 'no credential files to read yet' : `${count} ${count === 1 ? 'file' : 'files'} readable` });
}

/** The data folder: present (or creatable), writable by this user, private to it. */
export async function dataDirCheck(config: Config): Promise<CheckResult> {
  const title = 'Data directory';
  const dir = path.resolve(config.dataDir);
  const info = await stat(dir).catch(() => undefined);
  if (info === undefined) {
    const parent = path.dirname(dir);
    const canCreate = await access(parent, constants.W_OK).then(() => true, () => false);
    return canCreate
      ? check('data-dir', title, { status: 'warn', detail: `${dir} does not exist yet; vmsi serve will create it`, hint: 'Start the service once, or create it with mode 0700.' })
      : check('data-dir', title, { status: 'fail', detail: `${dir} does not exist and ${parent} is not writable`, hint: 'Create the data directory for the service user (systemd: StateDirectory=).' });
  }
  if (!info.isDirectory()) return check('data-dir', title, { status: 'fail', detail: `${dir} is not a directory`, hint: 'Point dataDir (VMSI_DATA_DIR) at a directory.' });
  try {
    await rm(await mkdtemp(path.join(dir, '.doctor-')), { recursive: true });
  } catch (error) {
    return check('data-dir', title, { status: 'fail', detail: `${dir} is not writable: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, hint: 'Make it writable by the service user only (chown, chmod 700).' });
  }
  if ((info.mode & 0o077) !== 0) {
    return check('data-dir', title, { status: 'warn', detail: `${dir} is writable but open to other users (mode ${(info.mode & 0o777).toString(8)})`, hint: `chmod 700 ${dir}: it holds the job store, tokens and host keys.` });
  }
  return check('data-dir', title, { status: 'pass', detail: `${dir} is writable and private` });
}
