import type { Request } from 'express';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { parseInjectionSpec, type InjectionSpec } from '../injection-spec.js';

/**
 * A body read as bytes (express.raw) and parsed as JSON whatever its Content-Type says: Tacker v1
 * sends none, and the injector's signature covers the exact bytes, checked before parsing.
 */
export function readRawJsonBody(req: Request, what: string): unknown {
  const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch (cause) {
    throw new AppError('INVALID_REQUEST', `The ${what} body is not valid JSON.`, { cause });
  }
}

/** YAML is accepted too: administrators keep specs and descriptors as YAML files. */
export function readDocumentBody(req: Request, what: string): unknown {
  if (req.is('application/yaml') || req.is('text/yaml') || req.is('application/x-yaml')) {
    try {
      return parseYaml(typeof req.body === 'string' ? req.body : '') as unknown;
    } catch (cause) {
      throw new AppError('INVALID_REQUEST', 'The request body is not valid YAML.', { cause });
    }
  }
  if (!req.is('application/json')) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Send the ${what} as application/json or application/yaml.`);
  }
  return req.body as unknown;
}

export function readSpecBody(req: Request): InjectionSpec {
  return parseInjectionSpec(readDocumentBody(req, 'spec'));
}

/** Query parameters get the same treatment as bodies: unknown ones are an error, not ignored. */
export function parseQuery<T extends z.ZodType>(req: Request, schema: T): z.infer<T> {
  const parsed = schema.safeParse(req.query);
  if (!parsed.success) {
    throw new AppError('INVALID_REQUEST', 'The query parameters are invalid.', {
      problems: parsed.error.issues.map((issue) => ({ path: issue.path.join('.') || '(query)', message: issue.message })),
    });
  }
  return parsed.data;
}
