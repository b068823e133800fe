import type { z } from 'zod';
import type { FieldProblem } from './errors.js';

/** Flattens every zod issue (including nested unions) into one list a person can act on. */
export function formatZodProblems(error: z.ZodError): FieldProblem[] {
  return error.issues.map((issue) => ({
    path: issue.path.length === 0 ? '(root)' : issue.path.map(String).join('.'),
    message: issue.message,
  }));
}
