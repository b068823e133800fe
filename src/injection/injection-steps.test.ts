import { expect } from 'chai';
import { parseInjectionSpec } from '../injection-spec.js';
import { ScriptedVmShell } from '../../test/support/scripted-vm-shell.js';
import { validSpecInput } from '../../test/support/spec-fixtures.js';
import { startTestEngine, type TestEngine } from '../../test/support/test-engine.js';
import type { JobView } from './job-view.js';

describe('injection steps', function () {
  this.timeout(30_000);
  let shell: ScriptedVmShell;
  let engine: TestEngine;

  beforeEach(async function () {
    shell = new ScriptedVmShell();
    engine = await startTestEngine(shell);
  });
  afterEach(async function () {
    await engine.close();
  });

  async function finished(id: string): Promise<JobView> {
    for (;;) {
      const job = await engine.service.get(id);
      if (['succeeded', 'failed', 'failed_temp'].includes(job.state)) return job;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  it('onboards a VM again with a fresh token when it restarted between the install and the check, and then succeeds', async function () {
    shell.restartsAfterFirstInstall = true;
    const { job } = await engine.service.submit('inject', parseInjectionSpec(validSpecInput()));
    const done = await finished(job.id);
    expect(done.state, JSON.stringify(done.steps)).to.equal('succeeded');
    const installs = shell.commands.filter((argv) => argv.join(' ').includes('install-sidecar.sh'));
    expect(installs).to.have.length(2);
    const verify = done.steps.find((step) => step.name === 'verify');
    expect(verify).to.deep.include({ state: 'succeeded', attempts: 1 });
    expect(verify?.output).to.deep.include({ readiness: '200', reinstalledAfterRestart: { status: 'installed', changed: true, spiffeId: 'spiffe://cluster.local/ns/vm-ns/sa/vm-sa', reason: '' } });
  });

  it('does not install again when the sidecar is merely not ready yet (its token is still there)', async function () {
    const { job } = await engine.service.submit('inject', parseInjectionSpec(validSpecInput()));
    expect((await finished(job.id)).state).to.equal('succeeded');
    expect(shell.commands.filter((argv) => argv.join(' ').includes('install-sidecar.sh'))).to.have.length(1);
  });
});
