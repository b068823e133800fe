import type { SecretReference } from '../injection-spec.js';

/**
 * Port: turns a secret reference from a spec into the secret's bytes. Specs and job records only
 * ever hold the reference; the bytes live in memory for as long as the step that needs them.
 */
export interface SecretResolver {
  /** Rejects with AppError SECRET_UNAVAILABLE naming the reference, never the content. */
  resolve(reference: SecretReference): Promise<Buffer>;
}

/** How a reference appears in errors and logs: what was asked for, never what it holds. */
export function describeSecretReference(reference: SecretReference): string {
  return 'file' in reference ? `file:${reference.file}` : `secret:${reference.secret}`;
}
