import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * Runs the openssl CLI with an argument vector (never a shell string). node:crypto can make keys
 * and verify certificates but cannot issue X.509 certificates, so the simulator and the tests use
 * openssl, as the VM will.
 */
export async function runOpenssl(args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync('openssl', args, { cwd, timeout: 30_000 });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: unknown }).stderr;
    throw new Error(`openssl ${args[0] ?? ''} failed: ${typeof stderr === 'string' ? stderr.trim() : String(error)}`, { cause: error });
  }
}

/** A private temporary directory for key material, removed when `work` settles. */
export async function withTempDir<T>(prefix: string, work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function inspectCertificate(certificatePem: string, args: string[]): Promise<string> {
  return withTempDir('vmsi-x509-', async (dir) => {
    const file = path.join(dir, 'cert.pem');
    await writeFile(file, certificatePem);
    return runOpenssl(['x509', '-in', file, '-noout', ...args], dir);
  });
}

/** The SAN line of a PEM certificate, e.g. `URI:spiffe://cluster.local/ns/a/sa/b`. */
export async function readSubjectAltName(certificatePem: string): Promise<string> {
  const text = await inspectCertificate(certificatePem, ['-ext', 'subjectAltName']);
  return text.split('\n').slice(1).join('\n').trim();
}

/** `subject=...` as openssl prints it; `subject=` when empty. */
export async function readSubject(certificatePem: string): Promise<string> {
  return (await inspectCertificate(certificatePem, ['-subject'])).trim();
}

/**
 * Makes an EC P-256 key and a CSR the way the VM does (`openssl req -new -newkey ec`), in a temp
 * dir. Returns the CSR and the key so a test can prove the key never left; callers must not log it.
 */
export async function makeCsr(subject: string, extraArgs: string[] = []): Promise<{ csrPem: string; keyPem: string }> {
  return withTempDir('vmsi-csr-', async (dir) => {
    await runOpenssl(
      ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'key.pem', '-out', 'csr.pem', '-subj', subject, ...extraArgs],
      dir,
    );
    return { csrPem: await readFile(path.join(dir, 'csr.pem'), 'utf8'), keyPem: await readFile(path.join(dir, 'key.pem'), 'utf8') };
  });
}
