import { expect } from 'chai';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError } from '../errors.js';
import { FileHostKeyStore } from './file-host-key-store.js';

const KEY_A = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHaeEhP6aknjHY0gaX1Tg386eqqOky/G9Xd8cbzgJf+E';
const KEY_B =
  'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJoWLa9Jku/KkbjBinAL2DmIb5GVEEmgZUPnfLnNxH2p7QMjyS+cH5T5Anqr9cTc9MycUjXH2pko6ZtA02vOkqw=';
const SERVER = '6f1c8f3e-4b7a-4c1e-9a55-0c1f0e6d2b11';

describe('file host key store', function () {
  let dir: string;
  let file: string;

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), 'vmsi-host-keys-'));
    file = join(dir, 'state', 'host_keys');
  });

  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it('records the first key per server in a 0600 known_hosts-like file and returns it', async function () {
    const store = new FileHostKeyStore(file);
    expect(await store.get(SERVER)).to.equal(undefined);
    await store.record(SERVER, `${KEY_A} comment dropped`);
    await store.record('[198.51.100.10]:22', KEY_B);
    expect(await store.get(SERVER)).to.equal(KEY_A);
    expect(await store.get('[198.51.100.10]:22')).to.equal(KEY_B);
    expect(await readFile(file, 'utf8')).to.equal(`${SERVER} ${KEY_A}\n[198.51.100.10]:22 ${KEY_B}\n`);
    expect((await stat(file)).mode & 0o777).to.equal(0o600);
    expect(await readdir(join(dir, 'state'))).to.deep.equal(['host_keys']);
  });

  it('accepts the same key again but refuses a different one for a recorded server', async function () {
    const store = new FileHostKeyStore(file);
    await store.record(SERVER, KEY_A);
    await store.record(SERVER, KEY_A);
    const refusal = (await store.record(SERVER, KEY_B).catch((error: unknown) => error)) as AppError;
    expect(refusal.code).to.equal('SSH_HOST_KEY_MISMATCH');
    expect(refusal.details).to.include({ serverKey: SERVER, presented: 'SHA256:bwI6SluDEUXkckEz+6s4ZQlASwkvzOID4FWC3CpE2C8' });
    expect(await store.get(SERVER)).to.equal(KEY_A);
  });

  it('lets exactly one of two racing first records win', async function () {
    const store = new FileHostKeyStore(file);
    const outcomes = await Promise.allSettled([store.record(SERVER, KEY_A), store.record(SERVER, KEY_B)]);
    expect(outcomes.map((outcome) => outcome.status)).to.deep.equal(['fulfilled', 'rejected']);
    expect(await readFile(file, 'utf8')).to.equal(`${SERVER} ${KEY_A}\n`);
  });

  it('forgets a server and keeps comments and other servers', async function () {
    const store = new FileHostKeyStore(file);
    await store.record(SERVER, KEY_A);
    await writeFile(file, `# kept\n${await readFile(file, 'utf8')}other ${KEY_B}\n`);
    await store.forget(SERVER);
    expect(await readFile(file, 'utf8')).to.equal(`# kept\nother ${KEY_B}\n`);
  });

  it('refuses server keys that would break the file format and keys that are not public keys', async function () {
    const store = new FileHostKeyStore(file);
    expect(((await store.get('two words').catch((error: unknown) => error)) as AppError).code).to.equal('INTERNAL');
    expect(((await store.record(SERVER, 'not a key').catch((error: unknown) => error)) as AppError).code).to.equal('INTERNAL');
  });
});
