import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runChecked, runCommand } from '../lab/run-command.js';
import { buildStandInSidecarDeb } from './build-stand-in-sidecar-deb.js';

const payload = fileURLToPath(new URL('payload/', import.meta.url));

describe('stand-in istio-sidecar package', () => {
  let outDir: string;

  before(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'vmsi-deb-test-'));
  });

  after(async () => {
    await rm(outDir, { recursive: true, force: true });
  });

  it('has the real package layout, metadata and conffiles', async () => {
    const deb = await buildStandInSidecarDeb(outDir);
    const listing = await runChecked('dpkg-deb', ['--contents', deb.path]);
    const files = listing.split('\n').filter((line) => line.startsWith('-')).map((line) => line.split(/\s+/).at(-1));
    expect(files).to.have.members([
      './usr/local/bin/envoy',
      './usr/local/bin/pilot-agent',
      './usr/local/bin/istio-start.sh',
      './lib/systemd/system/istio.service',
      './var/lib/istio/envoy/envoy_bootstrap_tmpl.json',
      './var/lib/istio/envoy/sidecar.env',
    ]);
    const fields = await runChecked('dpkg-deb', ['--field', deb.path, 'Package', 'Version', 'Depends']);
    expect(fields).to.equal('Package: istio-sidecar\nVersion: 1.28.0\nDepends: iproute2, iptables\n');
    const conffiles = await runChecked('dpkg-deb', ['--info', deb.path, 'conffiles']);
    expect(conffiles.trim().split('\n')).to.deep.equal(['/var/lib/istio/envoy/envoy_bootstrap_tmpl.json', '/var/lib/istio/envoy/sidecar.env']);
  });

  it('builds once per version and reports the sha256 of identical bytes', async () => {
    const first = await buildStandInSidecarDeb(join(outDir, 'a'));
    const second = await buildStandInSidecarDeb(join(outDir, 'b'));
    const other = await buildStandInSidecarDeb(join(outDir, 'c'), { version: '1.27.3' });
    expect(second.sha256).to.equal(first.sha256);
    expect((await runChecked('sha256sum', [second.path])).split(' ')[0]).to.equal(second.sha256);
    expect(other.version).to.equal('1.27.3');
    expect(other.path).to.match(/istio-sidecar_1\.27\.3_[a-z0-9]+\.deb$/);
    expect(other.sha256).to.not.equal(first.sha256);
  });

  it('rejects a version dpkg would not accept', async () => {
    let error: unknown;
    await buildStandInSidecarDeb(outDir, { version: '../1' }).catch((caught: unknown) => (error = caught));
    expect(error).to.be.instanceOf(Error).with.property('message', 'Not a Debian package version.');
  });

  it('keeps SSH out of inbound capture even when every port is captured', async () => {
    const rules = await runCommand('python3', [join(payload, 'pilot-agent'), 'istio-iptables', '--dry-run'], {
      env: { ISTIO_INBOUND_PORTS: '*', ISTIO_LOCAL_EXCLUDE_PORTS: '15090,15021,15020', ISTIO_SERVICE_CIDR: '*', ENVOY_USER: 'nobody' },
    });
    expect(rules.code).to.equal(0);
    const inbound = rules.stdout.split('\n').filter((line) => line.startsWith('-A ISTIO_INBOUND'));
    expect(inbound[0]).to.equal('-A ISTIO_INBOUND -p tcp --dport 22 -j RETURN');
    expect(inbound.at(-1)).to.equal('-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT');
    expect(inbound).to.include('-A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN');
  });

  it('ships shell scripts that pass shellcheck', async function () {
    const probe = await runCommand('shellcheck', ['--version']).catch(() => undefined);
    if (probe?.code !== 0) this.skip(); // scripts/prepare-test-host.sh installs it; unit runs may lack it
    const result = await runCommand('shellcheck', ['istio-start.sh', 'postinst', 'envoy'].map((name) => join(payload, name)));
    expect(result.stdout + result.stderr).to.equal('');
  });
});
