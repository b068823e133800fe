import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * The load generator runs in its own thread so that sending, which costs about as much CPU as
 * receiving, does not queue behind the service's own event loop and inflate its latencies.
 */
export interface HttpLoadPlan {
  url: string;
  headers: Record<string, string>;
  /** Request i sends body(i) of this module, in order, by `concurrency` senders at once. */
  bodyModule: string;
  count: number;
  concurrency: number;
  /** No request starts after this long; the ones in flight finish. */
  durationMs: number;
}

export interface HttpLoadReport {
  latenciesMs: number[];
  /** Index of each body that was answered with the expected status. */
  accepted: number[];
  failures: string[];
  elapsedMs: number;
}

const plan = workerData as HttpLoadPlan;
// Bodies are made here, not passed in: cloning tens of thousands of them into the worker would be
// work on the service's thread, inside the measured window.
const { body } = (await import(plan.bodyModule)) as { body: (index: number) => string };
const agent = new Agent({ keepAlive: true, maxSockets: plan.concurrency });

function send(body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(plan.url, { method: 'POST', agent, headers: { ...plan.headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('error', reject);
    req.end(body);
  });
}

async function run(): Promise<HttpLoadReport> {
  const report: HttpLoadReport = { latenciesMs: [], accepted: [], failures: [], elapsedMs: 0 };
  const started = performance.now();
  let next = 0;
  const sender = async (): Promise<void> => {
    while (next < plan.count && performance.now() - started < plan.durationMs) {
      const index = next++;
      const payload = body(index);
      const sentAt = performance.now();
      const status = await send(payload).catch((error: unknown) => String(error));
      report.latenciesMs.push(performance.now() - sentAt);
      if (status === 204) report.accepted.push(index);
      else report.failures.push(`request ${index}: ${status}`);
    }
  };
  await Promise.all(Array.from({ length: plan.concurrency }, sender));
  report.elapsedMs = performance.now() - started;
  agent.destroy();
  return report;
}

parentPort?.postMessage(await run());
