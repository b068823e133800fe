import { expect } from 'chai';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { parseInjectionSpec } from '../injection-spec.js';
import type { ControlPlaneSettings } from '../mesh/mesh-credentials.js';
import { assertMatchesGoldenDir } from '../../test/support/golden.js';
import { InMemoryMeshCredentials, StaticResolver } from '../../test/support/test-credentials.js';
import { validateWithCloudInitSchema } from '../../test/support/cloud-init-schema.js';
import { INSTALL_SCRIPT_NAME, loadInstallScript } from './injection-bundle.js';
import { renderCloudInitUserData } from './cloud-init-user-data.js';
import { renderInjection } from './render-injection.js';

const TESTDATA = fileURLToPath(new URL('../../cloud-init/testdata/', import.meta.url));
const FIXED_NOW = Date.parse('2026-11-01T00:00:00Z');

function readYamlIfPresent<T>(file: string, fallback: T): T {
  return existsSync(file) ? (parseYaml(readFileSync(file, 'utf8')) as T) : fallback;
}

/** Renders one scenario folder the way the service does, with the scenario's control plane. */
/** Golden files pin what this code renders; the script itself is judged by running it in VMs. */
const GOLDEN_SCRIPT_STAND_IN = Buffer.from('#!/bin/bash\n# install-sidecar.sh is replaced by this line in golden files\n');

async function renderScenario(dir: string, installScript: Buffer = GOLDEN_SCRIPT_STAND_IN): Promise<Map<string, Buffer>> {
  const spec = parseInjectionSpec(parseYaml(readFileSync(path.join(dir, 'spec.yaml'), 'utf8')));
  const controlPlane = readYamlIfPresent<ControlPlaneSettings>(path.join(dir, 'control-plane.yaml'), { meshConfig: {} });
  const credentials = new InMemoryMeshCredentials(controlPlane);
  const bundle = await renderInjection(spec, {
    credentials,
    controlPlane: credentials,
    resolver: new StaticResolver(readYamlIfPresent(path.join(dir, 'resolve.yaml'), {})),
    installScript,
    artifactsDir: dir,
    tokenLifetimeSeconds: 3600,
    now: () => FIXED_NOW,
  });
  const outputs = new Map(bundle.files.filter((file) => file.name !== INSTALL_SCRIPT_NAME).map((file) => [file.name, file.content]));
  if (spec.delivery.method === 'cloud-init') outputs.set('user-data', Buffer.from(renderCloudInitUserData(bundle)));
  return outputs;
}

describe('golden scenarios (cloud-init/testdata)', function () {
  const scenarios = readdirSync(TESTDATA, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('_'))
    .map((entry) => entry.name);

  it('has the scenarios the product promises', function () {
    for (const required of ['plain', 'revisioned', 'multi-network', 'auto-registration', 'dns-capture-off', 'labels-and-ports', 'ipv6']) {
      if (!scenarios.includes(required)) throw new Error(`missing golden scenario ${required}`);
    }
  });

  for (const scenario of scenarios) {
    it(`renders ${scenario} byte for byte`, async function () {
      const dir = path.join(TESTDATA, scenario);
      assertMatchesGoldenDir(await renderScenario(dir), path.join(dir, 'expected'));
    });
  }

  it('renders user-data that the real cloud-init schema accepts', async function () {
    this.timeout(60_000);
    const outputs = await renderScenario(path.join(TESTDATA, 'cloud-init-delivery'), loadInstallScript());
    await validateWithCloudInitSchema(outputs.get('user-data')?.toString('utf8') ?? '');
  });

  it('has a schema check that rejects invalid user-data', async function () {
    this.timeout(60_000);
    const invalid = '#cloud-config\nwrite_files:\n  - path: /x\n    permissions: 0644\n    content: x\nruncmd: not-a-list\n';
    let rejection: unknown;
    await validateWithCloudInitSchema(invalid).catch((error: unknown) => (rejection = error));
    expect(String(rejection)).to.match(/permissions: 420 is not of type 'string'/);
  });
});
