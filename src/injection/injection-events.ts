import type { InjectionSpec } from '../injection-spec.js';
import type { Job } from '../jobs/job.js';
import { createInjectionEvent, type InjectionEvent, type InjectionOutcome } from '../notify/notifier.js';

export interface OutcomeEventInput {
  job: Job;
  spec: InjectionSpec;
  outcome: InjectionOutcome;
  now: number;
  source?: string;
}

/** The identity the credentials step established; before it ran (a failed resolve), the spec's default. */
export function expectedSpiffeIdOf(job: Job, spec: InjectionSpec): string {
  const credentials = job.steps.find((step) => step.name === 'credentials')?.output;
  if (credentials !== null && typeof credentials === 'object' && !Array.isArray(credentials) && typeof credentials.spiffeId === 'string') {
    return credentials.spiffeId;
  }
  return `spiffe://${spec.mesh.trustDomain ?? 'cluster.local'}/ns/${spec.mesh.namespace}/sa/${spec.mesh.serviceAccount}`;
}

function failedStepOf(job: Job): string {
  return job.steps.find((step) => step.state === 'failed')?.name ?? job.steps.find((step) => step.state === 'running')?.name ?? '';
}

/** The CloudEvent for one job outcome; its id is stable per job and outcome, so redeliveries de-duplicate. */
export function buildOutcomeEvent(input: OutcomeEventInput): InjectionEvent {
  const { job, spec } = input;
  const finishedAt = new Date(input.now).toISOString();
  return createInjectionEvent({
    outcome: input.outcome,
    time: new Date(input.now),
    ...(input.source === undefined ? {} : { source: input.source }),
    data: {
      jobId: job.id,
      ...(spec.vm.serverId === undefined ? {} : { serverId: spec.vm.serverId }),
      vmName: spec.vm.name,
      address: spec.vm.address,
      mesh: {
        namespace: spec.mesh.namespace,
        workloadGroup: spec.mesh.workloadGroup,
        serviceAccount: spec.mesh.serviceAccount,
        spiffeId: expectedSpiffeIdOf(job, spec),
        network: spec.mesh.network,
      },
      timings: {
        startedAt: new Date(job.createdAt).toISOString(),
        finishedAt,
        steps: Object.fromEntries(job.steps.filter((step) => step.state === 'succeeded').map((step) => [step.name, step.durationMs])),
      },
      ...(job.lastError === null || input.outcome !== 'failed'
        ? {}
        : { failure: { code: job.lastError.code, message: job.lastError.message, step: failedStepOf(job) } }),
    },
  });
}
