/**
 * The lab's one error type: a constant message, the variable facts in `details`. The details are
 * also appended to the stack, because that is what mocha prints when a lab step fails.
 */
export class LabError extends Error {
  override readonly name = 'LabError';
  readonly details: Record<string, unknown>;

  constructor(message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.details = details;
    if (Object.keys(details).length > 0) {
      this.stack = `${this.stack ?? message}\n  details: ${JSON.stringify(details, null, 2)}`;
    }
  }
}
