import type { Request } from 'express';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { parseInjectionSpec, type InjectionSpec } from '../injection-spec.js';

/** YAML is accepted too: administrators keep specs as YAML files. */
export function readSpecBody(req: Request): InjectionSpec {
  if (req.is('application/yaml') || req.is('text/yaml') || req.is('application/x-yaml')) {
    let value: unknown;
    try {
      value = parseYaml(typeof req.body === 'string' ? req.body : '');
    } catch (cause) {
      throw new AppError('INVALID_REQUEST', 'The request body is not valid YAML.', { cause });
    }
    return parseInjectionSpec(value);
  }
  if (!req.is('application/json')) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the spec as application/json or application/yaml.');
  }
  return parseInjectionSpec(req.body);
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
