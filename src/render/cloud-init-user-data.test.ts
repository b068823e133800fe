import { expect } from 'chai';
import { parse as parseYaml } from 'yaml';
import { base64Length, NOVA_USER_DATA_LIMIT_BYTES, renderCloudInitUserData } from './cloud-init-user-data.js';
import type { InjectionBundle } from './injection-bundle.js';

const identity = { trustDomain: 'cluster.local', clusterId: 'Kubernetes', spiffeId: 'spiffe://cluster.local/ns/a/sa/b', discoveryAddress: 'istiod.istio-system.svc:15012' };

function bundleWith(files: InjectionBundle['files']): InjectionBundle {
  return { files, identity };
}

describe('cloud-init user-data', function () {
  it('writes every bundle file with a quoted octal mode and runs the script without a shell', function () {
    const userData = renderCloudInitUserData(
      bundleWith([
        { name: 'install-sidecar.sh', content: Buffer.from('#!/bin/bash\necho "$1"\n'), mode: 0o700, isSecret: false },
        { name: 'istio-token', content: Buffer.from('token'), mode: 0o400, isSecret: true },
      ]),
    );
    expect(userData.startsWith('#cloud-config\n')).to.equal(true);
    expect(userData).to.match(/permissions: "0400"/);
    const config = parseYaml(userData) as { write_files: Array<{ path: string; permissions: string; content: string }>; runcmd: string[][] };
    expect(config.write_files.map((file) => [file.path, file.permissions])).to.deep.equal([
      ['/run/vm-sidecar-injector/bundle/install-sidecar.sh', '0700'],
      ['/run/vm-sidecar-injector/bundle/istio-token', '0400'],
    ]);
    expect(config.write_files[0]?.content).to.equal('#!/bin/bash\necho "$1"\n');
    expect(config.runcmd[0]).to.deep.equal(['/run/vm-sidecar-injector/bundle/install-sidecar.sh', 'install', '/run/vm-sidecar-injector/bundle']);
  });

  it('base64-encodes binary content', function () {
    const userData = renderCloudInitUserData(bundleWith([{ name: 'blob', content: Buffer.from([0, 1, 2, 255]), mode: 0o600, isSecret: false }]));
    const config = parseYaml(userData) as { write_files: Array<{ encoding?: string; content: string }> };
    expect(config.write_files[0]).to.include({ encoding: 'b64', content: 'AAEC/w==' });
  });

  it("refuses user-data over Nova's limit and names the size, never truncating", async function () {
    const { randomBytes } = await import('node:crypto');
    // Random bytes do not compress, so even gz+b64 cannot bring them under the limit.
    const big = randomBytes(60_000);
    let refusal: unknown;
    try {
      renderCloudInitUserData(bundleWith([{ name: 'big', content: big, mode: 0o644, isSecret: false }]));
    } catch (error) {
      refusal = error;
    }
    expect(refusal).to.have.property('code', 'USER_DATA_TOO_LARGE');
    expect((refusal as Error).message).to.match(/\d+ bytes in base64, over Nova's limit of 65535 bytes/);
  });

  it('measures size as Nova does, after base64', function () {
    expect(base64Length(3)).to.equal(4);
    expect(base64Length(4)).to.equal(8);
    expect(base64Length(49_151)).to.equal(65_536);
    expect(NOVA_USER_DATA_LIMIT_BYTES).to.equal(65_535);
  });
});

describe('cloud-init user-data compression', function () {
  it('gzips large files so the install script fits in Nova user data', async function () {
    const { gunzipSync } = await import('node:zlib');
    const script = Buffer.from('#!/bin/bash\n' + 'echo "a line of the install script"\n'.repeat(2000));
    const userData = renderCloudInitUserData({ files: [{ name: 'install-sidecar.sh', content: script, mode: 0o700, isSecret: false }], identity });
    const config = parseYaml(userData) as { write_files: Array<{ encoding?: string; content: string }> };
    expect(config.write_files[0]?.encoding).to.equal('gz+b64');
    expect(gunzipSync(Buffer.from(config.write_files[0]?.content ?? '', 'base64')).equals(script)).to.equal(true);
    expect(renderCloudInitUserData({ files: [{ name: 'install-sidecar.sh', content: script, mode: 0o700, isSecret: false }], identity })).to.equal(userData);
  });
});
