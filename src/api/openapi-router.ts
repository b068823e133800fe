import { Router } from 'express';
import { requireScope } from './authentication.js';
import type { OpenApiFeatures } from './openapi-document.js';

export const OPENAPI_PATH = '/openapi.json';

export function openApiRouter(features: OpenApiFeatures): Router {
  const router = Router();
  let document: Promise<string> | undefined;
  router.get(OPENAPI_PATH, requireScope('read'), async (_req, res) => {
    // Built on first request: the document names every capability's schemas, and importing it at
    // start would load the code of capabilities the config leaves off.
    document ??= import('./openapi-document.js').then(({ createOpenApiDocument }) => JSON.stringify(createOpenApiDocument(features)));
    res.type('application/json').send(await document);
  });
  return router;
}
