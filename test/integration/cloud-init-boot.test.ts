import { expect } from 'chai';
import path from 'node:path';
import { parseInjectionSpec } from '../../src/injection-spec.js';
import { renderCloudInitUserData } from '../../src/render/cloud-init-user-data.js';
import { loadInstallScript } from '../../src/render/injection-bundle.js';
import { renderInjection } from '../../src/render/render-injection.js';
import { buildStandInSidecarDeb } from '../support/istio-sidecar-package/build-stand-in-sidecar-deb.js';
import { startLab, type Lab, type TestVm } from '../support/lab/lab.js';
import { appendToRunLog } from '../support/run-log.js';
import { validSpecInput } from '../support/spec-fixtures.js';
import { InMemoryMeshCredentials, StaticResolver } from '../support/test-credentials.js';
import { validateWithCloudInitSchema } from '../support/cloud-init-schema.js';

/**
 * Issue 2's promise for VMs not yet booted: the rendered user-data, handed to a VM through a NoCloud
 * seed, is executed by the real cloud-init at first boot and leaves the sidecar running.
 */
describe('cloud-init delivery in a booting VM', function () {
  this.timeout(240_000);
  let lab: Lab;
  let vm: TestVm | undefined;

  before(async function () {
    lab = await startLab();
  });
  after(async function () {
    await vm?.stop();
    await lab?.close();
  });

  it('installs, enables and starts the sidecar from user-data alone', async function () {
    const deb = await buildStandInSidecarDeb(path.join(lab.workDir, 'deb'));
    const packageUrl = lab.publishFile(deb.path, 'istio-sidecar.deb');
    const address = lab.reserveAddress();
    const { ssh: _ssh, ...vmWithoutSsh } = validSpecInput().vm;
    const spec = parseInjectionSpec({
      ...validSpecInput(),
      vm: { ...vmWithoutSsh, name: 'cloud-init-vm', address },
      mesh: { ...validSpecInput().mesh, gateway: { ip: lab.bridgeAddress } },
      package: { source: 'mirror', url: packageUrl, sha256: deb.sha256 },
      delivery: { method: 'cloud-init', readyTimeout: '120s' },
    });
    const credentials = new InMemoryMeshCredentials({ meshConfig: { defaultConfig: { discoveryAddress: 'istiod.istio-system.svc:15012' } } });
    const bundle = await renderInjection(spec, {
      credentials,
      controlPlane: credentials,
      resolver: new StaticResolver({}),
      installScript: loadInstallScript(),
      artifactsDir: lab.workDir,
      tokenLifetimeSeconds: 3600,
      now: Date.now,
    });
    const userData = renderCloudInitUserData(bundle);
    await validateWithCloudInitSchema(userData);

    vm = await lab.startVm({ name: 'cloudinit1', address, cloudInit: { userData } });
    const status = await vm.waitForCloudInit(180_000);
    appendToRunLog('cloud-init status', status.stdout + status.stderr);
    expect(status.stdout, status.stdout + status.stderr).to.match(/status: done/);

    const check = async (argv: string[]): Promise<string> => (await vm!.run(argv)).stdout.trim();
    expect(await check(['systemctl', 'is-enabled', 'istio'])).to.equal('enabled');
    expect(await check(['systemctl', 'is-active', 'istio'])).to.equal('active');
    expect(await check(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://localhost:15021/healthz/ready'])).to.equal('200');
    expect(await check(['stat', '-c', '%U %a', '/var/run/secrets/tokens/istio-token'])).to.equal('istio-proxy 400');
    expect(await check(['grep', '-c', 'istiod.istio-system.svc', '/etc/hosts'])).to.equal('1');
    expect(await check(['grep', '-c', `ISTIO_SVC_IP=${address}`, '/var/lib/istio/envoy/cluster.env'])).to.equal('1');
    // The bundle held a live token: it must not outlive the install.
    expect((await vm.run(['test', '-e', '/run/vm-sidecar-injector/bundle'])).code).to.not.equal(0);
    const output = await vm.run(['cat', '/var/log/cloud-init-output.log']);
    appendToRunLog('cloud-init-output.log', output.stdout);
    expect(output.stdout).to.include('VMSI-RESULT');
  });
});
