import { performance } from 'node:perf_hooks';
import { parseInjectionSpec } from '../src/injection-spec.js';
import { renderCloudInitUserData } from '../src/render/cloud-init-user-data.js';
import { loadInstallScript } from '../src/render/injection-bundle.js';
import { renderInjection, type RenderDependencies } from '../src/render/render-injection.js';
import { bundleTarBuffer } from '../src/render/ssh-bundle.js';
import { InMemoryMeshCredentials, StaticResolver } from '../test/support/test-credentials.js';
import { validSpecInput } from '../test/support/spec-fixtures.js';

/**
 * Speed and memory targets live here, not in timed tests. Each benchmark reports p50/p99 latency
 * and throughput; a target miss exits non-zero so a regression is visible in CI logs when run.
 */
interface Result {
  name: string;
  iterations: number;
  p50Ms: number;
  p99Ms: number;
  perSecond: number;
  targetP99Ms: number;
}

async function measure(name: string, iterations: number, targetP99Ms: number, run: () => Promise<unknown>): Promise<Result> {
  for (let i = 0; i < Math.min(50, iterations); i++) await run();
  const samples: number[] = [];
  const started = performance.now();
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await run();
    samples.push(performance.now() - t0);
  }
  const elapsed = performance.now() - started;
  samples.sort((a, b) => a - b);
  const at = (q: number): number => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0;
  return { name, iterations, p50Ms: at(0.5), p99Ms: at(0.99), perSecond: (iterations / elapsed) * 1000, targetP99Ms };
}

const credentials = new InMemoryMeshCredentials({ meshConfig: { trustDomain: 'cluster.local', defaultConfig: { discoveryAddress: 'istiod.istio-system.svc:15012' } } });
const deps: RenderDependencies = {
  credentials,
  controlPlane: credentials,
  resolver: new StaticResolver({}),
  installScript: loadInstallScript(),
  artifactsDir: '/nonexistent',
  tokenLifetimeSeconds: 3600,
  now: Date.now,
};
const spec = parseInjectionSpec(validSpecInput());

const results = [
  await measure('parse + validate spec', 5000, 1, () => Promise.resolve(parseInjectionSpec(validSpecInput()))),
  await measure('render bundle (ssh)', 2000, 5, () => renderInjection(spec, deps)),
  await measure('render bundle + tar stream', 1000, 10, async () => bundleTarBuffer(await renderInjection(spec, deps))),
  await measure('render cloud-init user-data', 1000, 20, async () => renderCloudInitUserData(await renderInjection(spec, deps))),
];

(globalThis as { gc?: () => void }).gc?.();
const heapMb = process.memoryUsage().heapUsed / 1024 / 1024;
console.table(results.map((r) => ({ benchmark: r.name, iterations: r.iterations, 'p50 ms': r.p50Ms.toFixed(3), 'p99 ms': r.p99Ms.toFixed(3), 'ops/s': Math.round(r.perSecond), 'target p99 ms': r.targetP99Ms })));
console.log(`heap retained after ${results.reduce((sum, r) => sum + r.iterations, 0)} operations and GC: ${heapMb.toFixed(1)} MiB (target < 64 MiB)`);
const misses = results.filter((r) => r.p99Ms > r.targetP99Ms);
if (misses.length > 0 || heapMb > 64) {
  console.error(`targets missed: ${misses.map((r) => r.name).join(', ')}${heapMb > 64 ? ' heap' : ''}`);
  process.exitCode = 1;
}
