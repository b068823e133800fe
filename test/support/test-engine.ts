import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInjectionSteps, type InjectionStepDependencies } from '../../src/injection/injection-steps.js';
import { InjectionService } from '../../src/injection/injection-service.js';
import { systemClock } from '../../src/clock.js';
import { JobRunner } from '../../src/jobs/job-runner.js';
import { SqliteJobStore } from '../../src/jobs/sqlite-job-store.js';
import { FileMeshRegistry } from '../../src/mesh/file-mesh-registry.js';
import { sshBundleDelivery } from '../../src/ssh/deliver-bundle.js';
import type { VmShell } from '../../src/injection/vm-shell.js';
import { createTestLogger } from './run-log.js';
import { InMemoryMeshCredentials, StaticResolver } from './test-credentials.js';

export interface TestEngine {
  service: InjectionService;
  runner: JobRunner;
  store: SqliteJobStore;
  registryDir: string;
  close(): Promise<void>;
}

/** The real runner, SQLite store, steps and file registry, around a given VmShell. */
export async function startTestEngine(shell: VmShell, overrides: Partial<InjectionStepDependencies> = {}): Promise<TestEngine> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-engine-'));
  const store = SqliteJobStore.open({ path: path.join(dir, 'jobs.sqlite') });
  const credentials = new InMemoryMeshCredentials({ meshConfig: { trustDomain: 'cluster.local', defaultConfig: { discoveryAddress: 'istiod.istio-system.svc:15012' } } });
  const registryDir = path.join(dir, 'registry');
  const steps = createInjectionSteps({
    render: {
      credentials,
      controlPlane: credentials,
      resolver: new StaticResolver({}),
      installScript: Buffer.from('#!/bin/bash\n'),
      artifactsDir: dir,
      tokenLifetimeSeconds: 3600,
      now: Date.now,
    },
    shell,
    delivery: sshBundleDelivery,
    registry: new FileMeshRegistry(registryDir),
    remoteBundleDir: '/run/vm-sidecar-injector',
    connectDeadlineMs: 5_000,
    commandTimeoutMs: 30_000,
    notifyDeadlineMs: 5_000,
    clock: systemClock,
    ...overrides,
  });
  const runner = new JobRunner({ store, steps, clock: systemClock, logger: createTestLogger(), concurrency: 4, stopGraceMs: 1_000 });
  await runner.start();
  return {
    service: new InjectionService({ runner, store }),
    runner,
    store,
    registryDir,
    close: async () => {
      await runner.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
