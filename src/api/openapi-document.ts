import { readFileSync } from 'node:fs';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject, type ZodOpenApiResponsesObject } from 'zod-openapi';
import { z } from 'zod';
import { injectionSpecSchema } from '../injection-spec.js';
import { jobViewSchema } from '../injection/job-view.js';
import { mgmtRequestSchema } from '../injection/tacker-plugin.js';
import { dnsLabelSchema } from '../kubernetes-names.js';
import { injectionEventSchema } from '../orchestrator/orchestrator-inbox.js';
import { deploymentViewSchema, orchestrationPlanSchema, serviceStatusSchema, serviceSummarySchema } from '../orchestrator/orchestrator-views.js';
import { vnfVmsSchema } from '../injection/vm-inventory.js';
import { serviceDescriptorSchema } from '../orchestrator/service-descriptor.js';
import { vnfIdentifierNotificationSchema, vnfLcmOperationOccurrenceNotificationSchema } from '../tacker/sol003-notification.js';
import { healthSchema, readinessSchema } from './health-router.js';
import { listQuerySchema } from './injection-router.js';
import { problemDetailsSchema } from './problem-details.js';
import { renderQuerySchema, renderResponseSchema } from './render-router.js';
import { mgmtResponseSchema, reconcileRequestSchema, reconcileResponseSchema } from './tacker-router.js';

/** Which optional parts the running service mounts: the document describes exactly what answers. */
export interface OpenApiFeatures {
  injections: boolean;
  tackerApiVersions: readonly ('v1' | 'v2')[];
  orchestrator: boolean;
}

type Scope = 'read' | 'write';

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request: every problem is listed in `problems`.',
  401: 'No valid credentials (`WWW-Authenticate` names the scheme).',
  403: 'The token lacks the scope this operation needs.',
  404: 'No such resource.',
  409: 'Conflict: an illegal state change, or a reused idempotency key.',
  413: 'The body is larger than `http.bodyLimitBytes`.',
  415: 'The body is neither JSON nor YAML.',
  422: 'The input is valid but cannot be served (mesh inconsistent, gateway unresolved, user-data too large, …).',
  502: 'A system this service depends on failed (Tacker, Nova, Kubernetes).',
  503: 'A source of credentials or a dependency is unavailable; `retryable` says whether to try again.',
};

// .meta() returns a copy: the published JSON Schemas (docs/*.schema.json) stay as they are.
const injectionSpec = injectionSpecSchema.meta({ id: 'InjectionSpec', description: 'docs/injection-spec.schema.json' });
const serviceDescriptor = serviceDescriptorSchema.meta({ id: 'ServiceDescriptor', description: 'docs/service-descriptor.schema.json' });
const tackerNotification = z.union([vnfLcmOperationOccurrenceNotificationSchema, vnfIdentifierNotificationSchema]).meta({ id: 'TackerNotification' });

const jobIdParameters = z.object({ id: z.uuid().meta({ description: 'The job id.' }) });
const serviceNameParameters = z.object({ name: dnsLabelSchema.meta({ description: 'The service descriptor `metadata.name`.' }) });
const idempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/)
    .optional()
    .meta({ description: 'Replaying a key returns the first job (`Idempotent-Replayed: true`); the same key with another body is 409.' }),
});
const locationHeader = z.object({ location: z.string().meta({ description: 'Where the job is read.' }) });

function problems(statuses: readonly number[]): ZodOpenApiResponsesObject {
  return Object.fromEntries(
    statuses.map((status) => [String(status), { description: PROBLEM_DESCRIPTIONS[status] ?? 'Error.', content: { 'application/problem+json': { schema: problemDetailsSchema } } }]),
  );
}

function jsonResponse(status: number, description: string, schema: z.ZodType, headers?: typeof locationHeader): ZodOpenApiResponsesObject {
  return { [String(status)]: { description, content: { 'application/json': { schema } }, ...(headers === undefined ? {} : { headers }) } };
}

/** Injection specs and service descriptors are accepted as JSON and as YAML (administrators keep them as files). */
function documentBody(schema: z.ZodType, description: string): ZodOpenApiOperationObject['requestBody'] {
  return { required: true, description, content: { 'application/json': { schema }, 'application/yaml': { schema } } };
}

function operation(scope: Scope, summary: string, rest: Omit<ZodOpenApiOperationObject, 'summary'>): ZodOpenApiOperationObject {
  return {
    summary,
    description: `Needs a token with the \`${scope}\` scope.`,
    'x-vmsi-scope': scope,
    ...rest,
    responses: { ...rest.responses, ...problems([401, 403]) },
  };
}

function healthPaths(): ZodOpenApiPathsObject {
  return {
    '/healthz': { get: operation('read', 'Liveness', { operationId: 'getHealth', tags: ['health'], responses: jsonResponse(200, 'The process runs.', healthSchema) }) },
    '/readyz': {
      get: operation('read', 'Readiness', {
        operationId: 'getReadiness',
        tags: ['health'],
        responses: { ...jsonResponse(200, 'Every check passed.', readinessSchema), ...jsonResponse(503, 'A check failed.', readinessSchema) },
      }),
    },
    '/metrics': {
      get: operation('read', 'Prometheus metrics', {
        operationId: 'getMetrics',
        tags: ['health'],
        responses: { 200: { description: 'Prometheus text exposition format.', content: { 'text/plain': { schema: z.string() } } } },
      }),
    },
    '/openapi.json': {
      get: operation('read', 'This document', {
        operationId: 'getOpenApiDocument',
        tags: ['health'],
        responses: { 200: { description: 'OpenAPI 3.1, generated from the zod schemas that validate requests.', content: { 'application/json': { schema: z.looseObject({ openapi: z.string() }) } } } },
      }),
    },
    '/v1/render': {
      post: operation('read', 'Render a bundle (dry run)', {
        operationId: 'render',
        tags: ['render'],
        description: 'Needs `read`; `includeSecrets=true` also needs `secrets`.',
        requestParams: { query: renderQuerySchema },
        requestBody: documentBody(injectionSpec, 'An injection spec.'),
        responses: { ...jsonResponse(200, 'The bundle; secrets masked unless asked for.', renderResponseSchema), ...problems([400, 413, 415, 422, 503]) },
      }),
    },
  };
}

function injectionPaths(): ZodOpenApiPathsObject {
  const jobAction = (operationId: string, summary: string): ZodOpenApiOperationObject =>
    operation('write', summary, { operationId, tags: ['injections'], requestParams: { path: jobIdParameters }, responses: { ...jsonResponse(200, 'The job.', jobViewSchema), ...problems([404, 409]) } });
  const submission = (operationId: string, summary: string): ZodOpenApiOperationObject =>
    operation('write', summary, {
      operationId,
      tags: ['injections'],
      requestParams: { header: idempotencyHeaders },
      requestBody: documentBody(injectionSpec, 'An injection spec.'),
      responses: { ...jsonResponse(202, 'The job, stored before this answer.', jobViewSchema, locationHeader), ...problems([400, 409, 413, 415]) },
    });
  return {
    '/v1/injections': {
      post: submission('createInjection', 'Inject a VM'),
      get: operation('read', 'List jobs, newest first', {
        operationId: 'listInjections',
        tags: ['injections'],
        requestParams: { query: listQuerySchema },
        responses: { ...jsonResponse(200, 'The jobs.', z.object({ items: z.array(jobViewSchema) })), ...problems([400]) },
      }),
    },
    '/v1/removals': { post: submission('createRemoval', 'Remove a VM from the mesh') },
    '/v1/vms': {
      get: operation('read', 'VMs per VNF instance, each with its newest job', {
        operationId: 'listVms',
        tags: ['injections'],
        responses: jsonResponse(200, 'The VMs, grouped by VNF instance.', z.object({ items: z.array(vnfVmsSchema) })),
      }),
    },
    '/v1/injections/{id}': {
      get: operation('read', 'One job with its steps and redacted log tail', {
        operationId: 'getInjection',
        tags: ['injections'],
        requestParams: { path: jobIdParameters },
        responses: { ...jsonResponse(200, 'The job.', jobViewSchema), ...problems([404]) },
      }),
    },
    '/v1/injections/{id}/retry': { post: jobAction('retryInjection', 'Retry a failed_temp job') },
    '/v1/injections/{id}/abandon': { post: jobAction('abandonInjection', 'Abandon a failed_temp job') },
    '/v1/injections/{id}/reonboard': {
      post: operation('write', 'Re-onboard: fresh token, agent restarted, nothing reinstalled', {
        operationId: 'reonboardInjection',
        tags: ['injections'],
        requestParams: { path: jobIdParameters },
        responses: { ...jsonResponse(202, 'A new injection job of the same spec.', jobViewSchema, locationHeader), ...problems([404, 409]) },
      }),
    },
  };
}

/** A URI Tacker calls back: its test GET and its notification POSTs, with Tacker's own authentication. */
function tackerCallbackPath(callback: { path: string; operationIds: { test: string; notify: string }; tag: string; testSummary: string; summary: string; description: string; stored: string }): ZodOpenApiPathsObject {
  const security: Array<Record<string, string[]>> = [{ tackerBasic: [] }, { tackerOAuth2: [] }];
  return {
    [callback.path]: {
      get: { operationId: callback.operationIds.test, tags: [callback.tag], summary: callback.testSummary, security, responses: { 204: { description: 'The callback is reachable.' }, ...problems([401]) } },
      post: {
        operationId: callback.operationIds.notify,
        tags: [callback.tag],
        summary: callback.summary,
        description: callback.description,
        security,
        requestBody: { required: true, content: { 'application/json': { schema: tackerNotification } } },
        responses: { 204: { description: callback.stored }, ...problems([400, 401, 413]) },
      },
    },
  };
}

function tackerCallback(apiVersion: 'v1' | 'v2'): ZodOpenApiPathsObject {
  return tackerCallbackPath({
    path: `/v1/tacker/notifications/${apiVersion}`,
    operationIds: { test: `testTackerCallback${apiVersion}`, notify: `notifyTacker${apiVersion}` },
    tag: 'tacker',
    testSummary: "Tacker's test of the callback URI",
    summary: `A SOL 003 ${apiVersion} notification`,
    description: 'Authenticated as `tacker.callbackAuth` says (Basic, or an OAuth2 bearer token). Stored durably before the 204.',
    stored: 'Stored (or a known duplicate).',
  });
}

function tackerPaths(apiVersions: readonly ('v1' | 'v2')[]): ZodOpenApiPathsObject {
  if (apiVersions.length === 0) return {};
  return {
    ...apiVersions.reduce<ZodOpenApiPathsObject>((paths, apiVersion) => ({ ...paths, ...tackerCallback(apiVersion) }), {}),
    '/v1/tacker/mgmt': {
      post: operation('write', "The mgmt-driver script's hook (mode B)", {
        operationId: 'tackerMgmt',
        tags: ['tacker'],
        requestBody: { required: true, content: { 'application/json': { schema: mgmtRequestSchema } } },
        responses: { ...jsonResponse(202, 'The jobs submitted, and the servers skipped with why.', mgmtResponseSchema), ...problems([400]) },
      }),
    },
    '/v1/tacker/reconcile': {
      post: operation('write', "Store the LCM operations Tacker completed since a time (after downtime)", {
        operationId: 'tackerReconcile',
        tags: ['tacker'],
        requestBody: { required: true, content: { 'application/json': { schema: reconcileRequestSchema } } },
        responses: { ...jsonResponse(200, 'What was stored.', reconcileResponseSchema), ...problems([400, 502, 503]) },
      }),
    },
  };
}

function orchestratorPaths(): ZodOpenApiPathsObject {
  const descriptor = documentBody(serviceDescriptor, 'A service descriptor.');
  return {
    '/v1/orchestrator/deployments': {
      post: operation('write', 'Deploy or change a service', {
        operationId: 'deployService',
        tags: ['orchestrator'],
        requestBody: descriptor,
        responses: { ...jsonResponse(202, 'The deploy job.', deploymentViewSchema, locationHeader), ...problems([400, 413, 415]) },
      }),
    },
    '/v1/orchestrator/plans': {
      post: operation('read', 'What a deployment would change (changes nothing)', {
        operationId: 'planService',
        tags: ['orchestrator'],
        requestBody: descriptor,
        responses: { ...jsonResponse(200, 'The plan.', orchestrationPlanSchema), ...problems([400, 413, 415, 502, 503]) },
      }),
    },
    '/v1/orchestrator/deployments/{id}': {
      get: operation('read', 'One deploy or teardown job', {
        operationId: 'getDeployment',
        tags: ['orchestrator'],
        requestParams: { path: jobIdParameters },
        responses: { ...jsonResponse(200, 'The job with its log.', deploymentViewSchema), ...problems([404]) },
      }),
    },
    '/v1/orchestrator/services': {
      get: operation('read', 'The services the orchestrator knows', {
        operationId: 'listServices',
        tags: ['orchestrator'],
        responses: jsonResponse(200, 'Newest activity first.', z.object({ items: z.array(serviceSummarySchema) })),
      }),
    },
    '/v1/orchestrator/services/{name}': {
      get: operation('read', 'A service: microservices, connections, the first problem', {
        operationId: 'getService',
        tags: ['orchestrator'],
        requestParams: { path: serviceNameParameters },
        responses: { ...jsonResponse(200, 'The status.', serviceStatusSchema), ...problems([404, 502, 503]) },
      }),
      delete: operation('write', 'Tear a service down', {
        operationId: 'teardownService',
        tags: ['orchestrator'],
        requestParams: { path: serviceNameParameters },
        responses: { ...jsonResponse(202, 'The teardown job.', deploymentViewSchema, locationHeader), ...problems([404]) },
      }),
    },
    '/v1/orchestrator/events': {
      post: {
        operationId: 'receiveInjectionEvent',
        tags: ['orchestrator'],
        summary: "The injector's signed CloudEvents",
        description: 'Authenticated by `X-Vmsi-Signature: sha256=<hex>`, an HMAC-SHA256 of the exact body with the shared secret.',
        security: [],
        requestParams: { header: z.object({ 'x-vmsi-signature': z.string().regex(/^sha256=[0-9a-f]{64}$/) }) },
        requestBody: { required: true, content: { 'application/cloudevents+json': { schema: injectionEventSchema } } },
        responses: { 204: { description: 'Stored (or a known redelivery).' }, ...problems([400, 401, 413]) },
      },
    },
  };
}

/** Where the orchestrator's own Tacker v2 subscription calls back (orchestrator.tackerNotifications). */
function orchestratorTackerCallbackPaths(): ZodOpenApiPathsObject {
  return tackerCallbackPath({
    path: '/v1/orchestrator/tacker/notifications',
    operationIds: { test: 'testOrchestratorTackerCallback', notify: 'notifyOrchestratorTacker' },
    tag: 'orchestrator',
    testSummary: "Tacker's test of the orchestrator's callback URI",
    summary: 'A SOL 003 v2 notification for an operation the orchestrator runs',
    description:
      'Authenticated as the v2 Tacker callback is (`tacker.callbackAuthByApi.v2` or `tacker.callbackAuth`). A result (COMPLETED, FAILED_TEMP, FAILED, ROLLED_BACK) is stored before the 204 and wakes the deployment waiting on it; other notifications are acknowledged and dropped.',
    stored: 'Stored, a known duplicate, or not a result.',
  });
}

/** The same file from src/api and dist/api: the version operators see is the one they installed. */
function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof manifest.version === 'string' ? manifest.version : '0.0.0';
}

/** Everything mounted: what docs/openapi.json shows. */
export const ALL_FEATURES: OpenApiFeatures = { injections: true, tackerApiVersions: ['v1', 'v2'], orchestrator: true };

/** The API as OpenAPI 3.1, built from the same zod schemas that validate requests and type the answers. */
export function createOpenApiDocument(features: OpenApiFeatures): Record<string, unknown> {
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'vm-sidecar-injector',
      version: packageVersion(),
      description: 'Brings OpenStack Tacker VMs into an Istio service mesh. Errors are RFC 7807 / ETSI SOL 013 ProblemDetails.',
    },
    security: [{ bearerAuth: [] }],
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API token (http.auth.tokens); scopes read, write, secrets.' },
        tackerBasic: { type: 'http', scheme: 'basic', description: 'tacker.callbackAuth kind basic.' },
        tackerOAuth2: { type: 'http', scheme: 'bearer', description: 'tacker.callbackAuth kind oauth2-introspection: the token Tacker got from the token endpoint.' },
      },
    },
    paths: {
      ...healthPaths(),
      ...(features.injections ? injectionPaths() : {}),
      ...tackerPaths(features.tackerApiVersions),
      ...(features.orchestrator ? orchestratorPaths() : {}),
      ...(features.orchestrator && features.tackerApiVersions.length > 0 ? orchestratorTackerCallbackPaths() : {}),
    },
  }) as unknown as Record<string, unknown>;
}
