import { expect } from 'chai';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { AppError } from '../errors.js';
import { redactText, REDACTED } from '../log.js';
import { FileSecretResolver } from './file-secret-resolver.js';

async function failureOf(promise: Promise<unknown>): Promise<AppError> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error as AppError,
  );
}

describe('file secret resolver', function () {
  let dir: string;
  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), 'vmsi-secrets-'));
  });
  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads {file} as given and {secret} from the secrets directory, following Kubernetes-style symlinks', async function () {
    await writeFile(join(dir, 'direct'), 'direct-value-123');
    await mkdir(join(dir, '..data'));
    await writeFile(join(dir, '..data', 'vm-key'), 'mounted-value-456');
    await symlink('..data/vm-key', join(dir, 'vm-key'));
    const resolver = new FileSecretResolver({ secretsDir: dir });
    expect((await resolver.resolve({ file: join(dir, 'direct') })).toString()).to.equal('direct-value-123');
    expect((await resolver.resolve({ secret: 'vm-key' })).toString()).to.equal('mounted-value-456');
  });

  it('refuses secret names that could leave the directory, naming the reference but not the content', async function () {
    await writeFile(join(dir, 'outside'), 'outside-secret-value');
    const resolver = new FileSecretResolver({ secretsDir: join(dir, 'secrets') });
    for (const secret of ['../outside', '..', '.hidden', 'a/b', '/etc/passwd', '']) {
      const failure = await failureOf(resolver.resolve({ secret }));
      expect(failure.code, secret).to.equal('SECRET_UNAVAILABLE');
      expect(failure.details.reference).to.equal(`secret:${secret}`);
    }
  });

  it('reports missing, empty, oversized and non-file secrets as SECRET_UNAVAILABLE, not retryable', async function () {
    await writeFile(join(dir, 'empty'), '');
    await writeFile(join(dir, 'big'), 'x'.repeat(100));
    const resolver = new FileSecretResolver({ secretsDir: dir, maxBytes: 50 });
    for (const secret of ['missing', 'empty', 'big']) {
      const failure = await failureOf(resolver.resolve({ secret }));
      expect(failure.code).to.equal('SECRET_UNAVAILABLE');
      expect(failure.retryable).to.equal(false);
      expect(failure.message).to.contain(`secret:${secret}`);
    }
    expect((await failureOf(resolver.resolve({ file: dir }))).details.reason).to.equal('not a regular file');
    expect((await failureOf(new FileSecretResolver().resolve({ secret: 'vm-key' }))).details.reason).to.equal('no secrets directory is configured');
  });

  it('registers a resolved private key so that neither the key nor a line of it can reach a log', async function () {
    const { private: privateKey } = ssh2.utils.generateKeyPairSync('ed25519');
    await writeFile(join(dir, 'vm-key'), privateKey, { mode: 0o600 });
    await new FileSecretResolver({ secretsDir: dir }).resolve({ secret: 'vm-key' });
    const bodyLine = privateKey.split('\n')[1]!;
    expect(redactText(`oops: ${bodyLine}`)).to.equal(`oops: ${REDACTED}`);
    expect(redactText(privateKey)).to.not.contain(bodyLine);
  });
});
