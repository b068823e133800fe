import { z } from 'zod';
import { ALL_FEATURES, createOpenApiDocument } from './api/openapi-document.js';
import { configSchema } from './config.js';
import { injectionSpecSchema } from './injection-spec.js';
import { serviceDescriptorSchema } from './orchestrator/service-descriptor.js';

/** The published JSON Schemas (docs/*.schema.json) and OpenAPI document, generated from the zod schemas that validate. */
export function publishedJsonSchemas(): Record<string, unknown> {
  const options = { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' } as const;
  return {
    'injection-spec.schema.json': {
      $id: 'https://vm-sidecar-injector.dev/schemas/injection-spec.json',
      title: 'vm-sidecar-injector injection spec',
      ...z.toJSONSchema(injectionSpecSchema, options),
    },
    'config.schema.json': {
      $id: 'https://vm-sidecar-injector.dev/schemas/config.json',
      title: 'vm-sidecar-injector service configuration',
      ...z.toJSONSchema(configSchema, options),
    },
    'service-descriptor.schema.json': {
      $id: 'https://vm-sidecar-injector.dev/schemas/service-descriptor.json',
      title: 'vm-sidecar-injector service descriptor',
      ...z.toJSONSchema(serviceDescriptorSchema, options),
    },
    'openapi.json': createOpenApiDocument(ALL_FEATURES),
  };
}
