import { Router, type Request } from 'express';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { InjectionSpec } from '../injection-spec.js';
import type { Logger } from '../log.js';
import type { MeshIdentity } from '../mesh/bootstrap-files.js';
import { sha256Hex } from '../log.js';
import { renderCloudInitUserData } from '../render/cloud-init-user-data.js';
import { maskSecrets, type InjectionBundle } from '../render/injection-bundle.js';
import { renderInjection, type RenderDependencies } from '../render/render-injection.js';
import { hasScope, requireScope } from './authentication.js';
import type { ServiceMetrics } from './metrics.js';
import { parseQuery, readSpecBody } from './spec-body.js';

export const renderQuerySchema = z
  .object({
    includeSecrets: z.enum(['true', 'false']).default('false'),
    delivery: z.enum(['ssh', 'cloud-init']).optional(),
  })
  .strict();

const meshIdentitySchema = z.object({
  trustDomain: z.string(),
  clusterId: z.string(),
  spiffeId: z.string().meta({ description: 'spiffe://<trust domain>/ns/<namespace>/sa/<service account>' }),
  discoveryAddress: z.string(),
}) satisfies z.ZodType<MeshIdentity>;

export const renderedFileViewSchema = z.object({
  name: z.string(),
  mode: z.string().regex(/^0[0-7]{3}$/),
  sha256: z.string().regex(/^[0-9a-f]{64}$/).meta({ description: 'Of the real content, also when the content shown is masked.' }),
  encoding: z.enum(['utf8', 'base64']),
  content: z.string().meta({ description: 'Secrets read "[REDACTED sha256:…]" unless includeSecrets=true.' }),
});
export type RenderedFileView = z.infer<typeof renderedFileViewSchema>;

export const renderResponseSchema = z
  .object({
    delivery: z.enum(['ssh', 'cloud-init']),
    identity: meshIdentitySchema,
    secretsIncluded: z.boolean(),
    files: z.array(renderedFileViewSchema),
    userData: z.string().optional().meta({ description: 'The #cloud-config user-data, for delivery cloud-init.' }),
  })
  .meta({ id: 'RenderResponse' });
export type RenderResponse = z.infer<typeof renderResponseSchema>;

function toView(bundle: InjectionBundle): RenderedFileView[] {
  return bundle.files.map((file) => {
    const isText = !file.name.endsWith('.deb') && !file.name.endsWith('.rpm');
    return {
      name: file.name,
      mode: `0${file.mode.toString(8)}`,
      sha256: sha256Hex(file.content),
      encoding: isText ? 'utf8' : 'base64',
      content: file.content.toString(isText ? 'utf8' : 'base64'),
    };
  });
}

function specFromRequest(req: Request, delivery: InjectionSpec['delivery']['method'] | undefined): InjectionSpec {
  const spec = readSpecBody(req);
  return delivery === undefined ? spec : { ...spec, delivery: { ...spec.delivery, method: delivery } };
}

async function buildRenderResponse(spec: InjectionSpec, includeSecrets: boolean, deps: RenderDependencies): Promise<{ body: RenderResponse; userDataSha256?: string }> {
  const bundle = await renderInjection(spec, deps);
  const shown = includeSecrets ? bundle : maskSecrets(bundle);
  // Rendering the real user-data first enforces Nova's size limit on what will actually be sent.
  const userData = spec.delivery.method === 'cloud-init' ? renderCloudInitUserData(bundle) : undefined;
  const body: RenderResponse = { delivery: spec.delivery.method, identity: bundle.identity, secretsIncluded: includeSecrets, files: toView(shown) };
  if (userData === undefined) return { body };
  body.userData = includeSecrets ? userData : renderCloudInitUserData(shown);
  return { body, userDataSha256: sha256Hex(userData) };
}

export function renderRouter(deps: RenderDependencies, metrics: ServiceMetrics, logger: Logger): Router {
  const router = Router();
  router.post('/v1/render', requireScope('read'), async (req, res) => {
    const query = parseQuery(req, renderQuerySchema);
    const spec = specFromRequest(req, query.delivery);
    const includeSecrets = query.includeSecrets === 'true';
    if (includeSecrets && !hasScope(res.locals.principal, 'secrets')) {
      throw new AppError('FORBIDDEN', 'Unmasked secrets need a token with the secrets scope.');
    }
    const outcome = await buildRenderResponse(spec, includeSecrets, deps).catch((error: unknown) => {
      metrics.renders.inc({ delivery: spec.delivery.method, outcome: 'failed' });
      throw error;
    });
    metrics.renders.inc({ delivery: spec.delivery.method, outcome: 'rendered' });
    logger.info('Rendered an injection bundle', {
      vm: spec.vm.name,
      namespace: spec.mesh.namespace,
      workloadGroup: spec.mesh.workloadGroup,
      principal: res.locals.principal?.name,
      secretsIncluded: includeSecrets,
      userDataSha256: outcome.userDataSha256,
    });
    res.status(200).json(outcome.body);
  });
  return router;
}
