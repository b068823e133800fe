import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { JOB_STATES } from '../jobs/job.js';
import type { JobStore } from '../jobs/job-store.js';

/** One registry per service instance, so tests can run several apps in one process. */
export interface ServiceMetrics {
  registry: Registry;
  httpRequestDuration: Histogram<'method' | 'route' | 'status'>;
  renders: Counter<'delivery' | 'outcome'>;
  jobTransitions: Counter<'kind' | 'to'>;
  stepDuration: Histogram<'step' | 'outcome'>;
  stepRetries: Counter<'step' | 'code'>;
  sshConnectDuration: Histogram<'outcome'>;
  /** Reports jobs by state at each scrape, from one aggregate query (no job is read). */
  trackJobStates(store: JobStore): void;
}

export function createServiceMetrics(): ServiceMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'vmsi_' });
  return {
    registry,
    httpRequestDuration: new Histogram({
      name: 'vmsi_http_request_duration_seconds',
      help: 'HTTP request duration by route and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    renders: new Counter({
      name: 'vmsi_renders_total',
      help: 'Bundles rendered, by delivery method and outcome.',
      labelNames: ['delivery', 'outcome'],
      registers: [registry],
    }),
    jobTransitions: new Counter({ name: 'vmsi_job_transitions_total', help: 'Job state changes, by kind and new state.', labelNames: ['kind', 'to'], registers: [registry] }),
    stepDuration: new Histogram({
      name: 'vmsi_job_step_duration_seconds',
      help: 'Duration of one step attempt, by step and outcome (succeeded, retrying, failed).',
      labelNames: ['step', 'outcome'],
      buckets: [0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900],
      registers: [registry],
    }),
    sshConnectDuration: new Histogram({
      name: 'vmsi_ssh_connect_seconds',
      help: 'Time to reach a VM over SSH, retries while it boots included, by outcome.',
      labelNames: ['outcome'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 600],
      registers: [registry],
    }),
    stepRetries: new Counter({ name: 'vmsi_job_step_retries_total', help: 'Step attempts that failed and were scheduled again, by error code.', labelNames: ['step', 'code'], registers: [registry] }),
    trackJobStates: (store) => {
      new Gauge({
        name: 'vmsi_jobs',
        help: 'Jobs in the store by state.',
        labelNames: ['state'],
        registers: [registry],
        async collect(): Promise<void> {
          const counts = await store.countByState();
          for (const state of JOB_STATES) this.set({ state }, counts[state]);
        },
      });
    },
  };
}
