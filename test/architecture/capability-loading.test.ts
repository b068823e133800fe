import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The modules `vmsi serve` loads with the given extra config, as the probe child reports them. */
async function modulesLoadedBy(extraConfig: Record<string, unknown>): Promise<string[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-capabilities-'));
  try {
    const configFile = path.join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify({ dataDir: path.join(dir, 'data'), http: { port: 0, host: '127.0.0.1' }, ...extraConfig }));
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'test/support/capability-probe.ts', configFile], { timeout: 60_000 });
    return JSON.parse(stdout) as string[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the composition root loads only the enabled capabilities', function () {
  this.timeout(120_000);

  it('starts without the Tacker plugin and the orchestrator when the config names neither, loading none of their code', async function () {
    const loaded = await modulesLoadedBy({});
    expect(loaded).to.include('src/main.ts');
    expect(loaded).to.include('src/injection/injection-steps.ts');
    for (const module of [
      'src/composition/tacker-plugin-capability.ts',
      'src/composition/orchestrator-capability.ts',
      'src/tacker/tacker-client.ts',
      'src/injection/tacker-plugin.ts',
      'src/injection/lcm-event-steps.ts',
      'src/orchestrator/orchestrator-service.ts',
      'src/orchestrator/orchestrator-steps.ts',
      'src/api/tacker-router.ts',
      'src/api/orchestrator-router.ts',
    ]) {
      expect(loaded, module).to.not.include(module);
    }
  });
});
