import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError } from '../errors.js';
import type { HostKeyPolicy } from '../injection-spec.js';
import { parsePublicKeyLine } from './host-key.js';
import type { HostKeyStore } from './host-key-store.js';
import { HostKeyVerifier } from './host-key-verifier.js';
import type { SshEndpoint } from '../injection/vm-shell.js';

const KEY_A = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHaeEhP6aknjHY0gaX1Tg386eqqOky/G9Xd8cbzgJf+E';
const FINGERPRINT_A = 'SHA256:IB7A706Io8iQlcBj5f7O8mAu1Qaa4Y4XyddoHjjKwdA';
const KEY_B =
  'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJoWLa9Jku/KkbjBinAL2DmIb5GVEEmgZUPnfLnNxH2p7QMjyS+cH5T5Anqr9cTc9MycUjXH2pko6ZtA02vOkqw=';
const FINGERPRINT_B = 'SHA256:bwI6SluDEUXkckEz+6s4ZQlASwkvzOID4FWC3CpE2C8';
const blobA = parsePublicKeyLine(KEY_A)!.blob;
const blobB = parsePublicKeyLine(KEY_B)!.blob;

class MemoryHostKeyStore implements HostKeyStore {
  readonly keys = new Map<string, string>();
  get(serverKey: string): Promise<string | undefined> {
    return Promise.resolve(this.keys.get(serverKey));
  }
  record(serverKey: string, publicKey: string): Promise<void> {
    const known = this.keys.get(serverKey);
    if (known !== undefined && known !== publicKey) return Promise.reject(new AppError('SSH_HOST_KEY_MISMATCH', 'differs'));
    this.keys.set(serverKey, publicKey);
    return Promise.resolve();
  }
  forget(serverKey: string): Promise<void> {
    this.keys.delete(serverKey);
    return Promise.resolve();
  }
}

function endpoint(hostKey: HostKeyPolicy, port = 22): SshEndpoint {
  return { host: '198.51.100.10', port, user: 'vmadmin', privateKeyRef: { secret: 'vm-key' }, hostKey, serverKey: 'server-1' };
}

async function failureOf(promise: Promise<unknown>): Promise<AppError> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error as AppError,
  );
}

describe('host key verification', function () {
  let dir: string;
  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), 'vmsi-known-hosts-'));
  });
  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it('pinned: accepts a pinned key or fingerprint and refuses any other key, naming both fingerprints', async function () {
    const verifier = new HostKeyVerifier({ store: new MemoryHostKeyStore(), knownHostsFiles: [] });
    const byKey = await verifier.prepare(endpoint({ policy: 'pinned', publicKeys: [`${KEY_A} vm1`] }));
    await byKey.verify(blobA);
    expect(byKey.hostKeyAlgorithms[0]).to.equal('ssh-ed25519');
    const failure = await failureOf(byKey.verify(blobB));
    expect(failure.code).to.equal('SSH_HOST_KEY_MISMATCH');
    expect(failure.retryable).to.equal(false);
    expect(failure.details).to.deep.include({ expected: [FINGERPRINT_A], presented: FINGERPRINT_B, serverKey: 'server-1', policy: 'pinned' });

    const byFingerprint = await verifier.prepare(endpoint({ policy: 'pinned', fingerprints: [FINGERPRINT_B] }));
    await byFingerprint.verify(blobB);
    expect((await failureOf(byFingerprint.verify(blobA))).code).to.equal('SSH_HOST_KEY_MISMATCH');
  });

  it('known-hosts: uses the [host]:port entry, refuses other keys, and calls an absent host unknown', async function () {
    const file = join(dir, 'known_hosts');
    await writeFile(file, `[198.51.100.10]:2222 ${KEY_B}\n198.51.100.10 ${KEY_A}\n`);
    const verifier = new HostKeyVerifier({ store: new MemoryHostKeyStore() });
    const onPort2222 = await verifier.prepare(endpoint({ policy: 'known-hosts', file }, 2222));
    await onPort2222.verify(blobB);
    expect(onPort2222.hostKeyAlgorithms[0]).to.equal('ecdsa-sha2-nistp256');
    expect((await failureOf(onPort2222.verify(blobA))).code).to.equal('SSH_HOST_KEY_MISMATCH');

    const other = await verifier.prepare({ ...endpoint({ policy: 'known-hosts', file }), host: '198.51.100.11' });
    const unknown = await failureOf(other.verify(blobA));
    expect(unknown.code).to.equal('SSH_HOST_KEY_UNKNOWN');
    expect(unknown.retryable).to.equal(false);
    expect(unknown.details).to.include({ presented: FINGERPRINT_A });
  });

  it('known-hosts: refuses a revoked key even for an otherwise known host', async function () {
    const file = join(dir, 'known_hosts');
    await writeFile(file, `198.51.100.10 ${KEY_A}\n@revoked * ${KEY_B}\n`);
    const check = await new HostKeyVerifier({ store: new MemoryHostKeyStore() }).prepare(endpoint({ policy: 'known-hosts', file }));
    const failure = await failureOf(check.verify(blobB));
    expect(failure.code).to.equal('SSH_HOST_KEY_MISMATCH');
    expect(failure.details).to.include({ revoked: true });
  });

  it('known-hosts: reads the default files when the policy names none, and fails closed on a named file that is missing', async function () {
    const defaults = [join(dir, 'absent'), join(dir, 'system_known_hosts')];
    await writeFile(defaults[1]!, `198.51.100.10 ${KEY_A}\n`);
    const verifier = new HostKeyVerifier({ store: new MemoryHostKeyStore(), knownHostsFiles: defaults });
    await (await verifier.prepare(endpoint({ policy: 'known-hosts' }))).verify(blobA);
    const missing = await failureOf(verifier.prepare(endpoint({ policy: 'known-hosts', file: join(dir, 'typo') })));
    expect(missing.code).to.equal('SSH_HOST_KEY_UNKNOWN');
  });

  it('accept-new: records the first key under the server key, then enforces it', async function () {
    const store = new MemoryHostKeyStore();
    const verifier = new HostKeyVerifier({ store, knownHostsFiles: [] });
    await (await verifier.prepare(endpoint({ policy: 'accept-new' }))).verify(blobA);
    expect(store.keys.get('server-1')).to.equal(KEY_A);
    const second = await verifier.prepare(endpoint({ policy: 'accept-new' }));
    await second.verify(blobA);
    const failure = await failureOf(second.verify(blobB));
    expect(failure.code).to.equal('SSH_HOST_KEY_MISMATCH');
    expect(failure.details).to.deep.include({ expected: [FINGERPRINT_A], presented: FINGERPRINT_B, policy: 'accept-new' });
  });
});
