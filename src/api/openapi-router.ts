import { Router } from 'express';
import { requireScope } from './authentication.js';
import { createOpenApiDocument, type OpenApiFeatures } from './openapi-document.js';

export const OPENAPI_PATH = '/openapi.json';

export function openApiRouter(features: OpenApiFeatures): Router {
  const router = Router();
  let document: string | undefined;
  router.get(OPENAPI_PATH, requireScope('read'), (_req, res) => {
    document ??= JSON.stringify(createOpenApiDocument(features));
    res.type('application/json').send(document);
  });
  return router;
}
