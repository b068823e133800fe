import { expect } from 'chai';
import { fingerprintOf, hostKeyAlgorithmsPreferring, keyTypeOf, parsePublicKeyLine } from './host-key.js';
import { findKnownKeys, knownHostName, matchesHost, parseKnownHosts } from './known-hosts.js';

// Made with ssh-keygen; the fingerprints and hashed lines below are what ssh-keygen -l and -H print for them.
const ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHaeEhP6aknjHY0gaX1Tg386eqqOky/G9Xd8cbzgJf+E';
const ED25519_FINGERPRINT = 'SHA256:IB7A706Io8iQlcBj5f7O8mAu1Qaa4Y4XyddoHjjKwdA';
const ECDSA =
  'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJoWLa9Jku/KkbjBinAL2DmIb5GVEEmgZUPnfLnNxH2p7QMjyS+cH5T5Anqr9cTc9MycUjXH2pko6ZtA02vOkqw=';
const ECDSA_FINGERPRINT = 'SHA256:bwI6SluDEUXkckEz+6s4ZQlASwkvzOID4FWC3CpE2C8';
/** `ssh-keygen -H` of "[vm.example]:2222 <ED25519>" and "10.0.0.5 <ECDSA>". */
const HASHED = [`|1|itcbY+mZMAWzfEFXuUw7you8CWo=|DQwI0MY4/SC8GTkWx8daqlKcvIw= ${ED25519}`, `|1|6NbkDksycpkyY9d0u0lJLX39JPs=|0bryRLYS3UpM52U1Q6V6ZOC+nGc= ${ECDSA}`].join('\n');

function fingerprints(keys: Array<{ blob: Buffer }>): string[] {
  return keys.map((key) => fingerprintOf(key.blob));
}

describe('host keys', function () {
  it('computes the SHA256 fingerprint ssh-keygen -l prints', function () {
    expect(fingerprintOf(parsePublicKeyLine(`${ED25519} comment here`)!.blob)).to.equal(ED25519_FINGERPRINT);
    expect(fingerprintOf(parsePublicKeyLine(ECDSA)!.blob)).to.equal(ECDSA_FINGERPRINT);
  });

  it('rejects a public key line whose blob does not hold the named type', function () {
    expect(parsePublicKeyLine(ED25519.replace('ssh-ed25519', 'ssh-rsa'))).to.equal(undefined);
    expect(parsePublicKeyLine('ssh-ed25519 not*base64')).to.equal(undefined);
    expect(keyTypeOf(Buffer.from([0, 0, 0, 9, 1]))).to.equal(undefined);
  });

  it('offers the known key types first and RSA under its SHA-2 names, never DSA', function () {
    expect(hostKeyAlgorithmsPreferring(['ssh-rsa']).slice(0, 4)).to.deep.equal(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ssh-ed25519']);
    expect(hostKeyAlgorithmsPreferring(['ecdsa-sha2-nistp256'])[0]).to.equal('ecdsa-sha2-nistp256');
    expect(hostKeyAlgorithmsPreferring([])).to.not.include('ssh-dss');
  });
});

describe('known_hosts parsing', function () {
  it('finds plain entries by name, among comma-separated names, case-insensitively', function () {
    const entries = parseKnownHosts(`# comment\n\nvm1,198.51.100.10 ${ED25519}\nVM2.Example ${ECDSA} a comment\n`);
    expect(fingerprints(findKnownKeys(entries, '198.51.100.10', 22).accepted)).to.deep.equal([ED25519_FINGERPRINT]);
    expect(fingerprints(findKnownKeys(entries, 'vm2.example', 22).accepted)).to.deep.equal([ECDSA_FINGERPRINT]);
    expect(findKnownKeys(entries, 'vm3', 22).accepted).to.deep.equal([]);
  });

  it('looks up non-standard ports as [host]:port only, as ssh does', function () {
    const entries = parseKnownHosts(`[198.51.100.10]:2222 ${ED25519}\n198.51.100.10 ${ECDSA}\n`);
    expect(knownHostName('198.51.100.10', 2222)).to.equal('[198.51.100.10]:2222');
    expect(fingerprints(findKnownKeys(entries, '198.51.100.10', 2222).accepted)).to.deep.equal([ED25519_FINGERPRINT]);
    expect(fingerprints(findKnownKeys(entries, '198.51.100.10', 22).accepted)).to.deep.equal([ECDSA_FINGERPRINT]);
  });

  it('matches hashed entries written by ssh-keygen -H', function () {
    const entries = parseKnownHosts(HASHED);
    expect(fingerprints(findKnownKeys(entries, 'vm.example', 2222).accepted)).to.deep.equal([ED25519_FINGERPRINT]);
    expect(fingerprints(findKnownKeys(entries, '10.0.0.5', 22).accepted)).to.deep.equal([ECDSA_FINGERPRINT]);
    expect(findKnownKeys(entries, 'vm.example', 22).accepted).to.deep.equal([]);
  });

  it('honours wildcards and negations', function () {
    expect(matchesHost(['198.51.100.*'], '198.51.100.7')).to.equal(true);
    expect(matchesHost(['198.51.100.?'], '198.51.100.17')).to.equal(false);
    expect(matchesHost(['*.example', '!db.example'], 'db.example')).to.equal(false);
    expect(matchesHost(['*.example', '!db.example'], 'web.example')).to.equal(true);
    expect(matchesHost(['vm.example'], 'vmXexample')).to.equal(false);
  });

  it('reports @revoked keys apart, ignores @cert-authority lines, and skips malformed lines', function () {
    const entries = parseKnownHosts([`@revoked * ${ECDSA}`, `@cert-authority *.example ${ED25519}`, 'garbage line', `@unknown host ${ED25519}`, `host ${ED25519}`].join('\n'));
    const found = findKnownKeys(entries, 'host', 22);
    expect(fingerprints(found.accepted)).to.deep.equal([ED25519_FINGERPRINT]);
    expect(fingerprints(found.revoked)).to.deep.equal([ECDSA_FINGERPRINT]);
    expect(findKnownKeys(entries, 'web.example', 22).accepted).to.deep.equal([]);
  });
});
