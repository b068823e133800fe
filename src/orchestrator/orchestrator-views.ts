import { z } from 'zod';
import { jobErrorSchema } from '../injection/job-view.js';
import { JOB_STATES, STEP_STATES } from '../jobs/job.js';

const timestamp = z.iso.datetime().meta({ description: 'RFC 3339, UTC' });

/** A deploy or teardown job as the API and CLI show it. */
export const deploymentViewSchema = z
  .object({
    id: z.uuid(),
    kind: z.enum(['deploy', 'teardown']),
    service: z.string(),
    state: z.enum(JOB_STATES),
    stateReason: z.string(),
    currentStep: z.string().optional().meta({ description: 'The step running or last run, and what it is waiting for.' }),
    steps: z.array(
      z.object({ name: z.string(), state: z.enum(STEP_STATES), attempts: z.number().int().min(0), durationMs: z.number().min(0), lastError: jobErrorSchema.nullable(), output: z.unknown() }),
    ),
    lastError: jobErrorSchema.nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
    finishedAt: timestamp.nullable(),
    log: z.array(z.string()).optional(),
  })
  .meta({ id: 'Deployment' });
export type DeploymentView = z.infer<typeof deploymentViewSchema>;

export const vnfChangeSchema = z.object({
  microservice: z.string(),
  kind: z.enum(['vnf', 'cnf']).meta({ description: 'vnf: VMs of a VM microservice; cnf: pods of a container microservice with via: tacker.' }),
  vnfInstanceName: z.string(),
  action: z.enum(['create', 'scale', 'none']),
  from: z.number().int().min(0).meta({ description: 'VMs (vnf) or pods (cnf) now.' }),
  to: z.number().int().min(0).meta({ description: 'VMs (vnf) or pods (cnf) wanted.' }),
});
export type VnfChange = z.infer<typeof vnfChangeSchema>;

export const orchestrationPlanSchema = z
  .object({
    service: z.string(),
    objects: z.object({ create: z.array(z.string()), update: z.array(z.string()), delete: z.array(z.string()), unchanged: z.number().int().min(0) }),
    vnfs: z.array(vnfChangeSchema),
    text: z.string().meta({ description: 'Human-readable, with a unified YAML diff per update (what `--dry-run` prints).' }),
  })
  .meta({ id: 'OrchestrationPlan' });
export type OrchestrationPlan = z.infer<typeof orchestrationPlanSchema>;

export const microserviceStatusSchema = z.object({
  name: z.string(),
  kind: z.enum(['container', 'vm']),
  version: z.string(),
  ready: z.boolean(),
  workloads: z.array(z.object({ name: z.string(), ready: z.boolean(), detail: z.string() })),
});
export type MicroserviceStatus = z.infer<typeof microserviceStatusSchema>;

export const serviceStatusSchema = z
  .object({
    service: z.string(),
    namespace: z.string(),
    deployment: deploymentViewSchema.nullable(),
    microservices: z.array(microserviceStatusSchema),
    connections: z.array(
      z.object({ from: z.string(), to: z.string(), port: z.number().int(), objects: z.array(z.object({ key: z.string(), present: z.boolean() })) }),
    ),
    problem: z.string().optional().meta({ description: 'The first thing wrong, in deployment order; absent when everything is in place.' }),
  })
  .meta({ id: 'ServiceStatus' });
export type ServiceStatus = z.infer<typeof serviceStatusSchema>;

export const serviceSummarySchema = z
  .object({ service: z.string(), deployment: deploymentViewSchema })
  .meta({ id: 'ServiceSummary', description: 'A service the orchestrator knows, with its newest deploy or teardown job.' });
export type ServiceSummary = z.infer<typeof serviceSummarySchema>;
