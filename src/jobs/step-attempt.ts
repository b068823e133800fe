import { AppError, toAppError } from '../errors.js';
import { redact } from '../log.js';
import { pause } from '../clock.js';
import type { JsonValue } from './job.js';
import type { StepContext, StepDefinition } from './step-definition.js';

export type AttemptResult =
  | { kind: 'succeeded'; output: JsonValue | null }
  | { kind: 'failed'; error: AppError }
  /** The runner is stopping: nothing is recorded, the step runs again at the next start. */
  | { kind: 'interrupted' };

export interface AttemptRequest {
  definition: StepDefinition;
  context: Omit<StepContext, 'signal'>;
  timeoutMs: number;
  /** Aborted by the runner when its stop grace period runs out. */
  shutdown: AbortSignal;
}

/** Outputs are for fingerprints and result lines; anything bigger belongs in the log or elsewhere. */
export const MAX_STEP_OUTPUT_BYTES = 16 * 1024;

/**
 * Runs one attempt against its timeout and the runner's shutdown. Whichever comes first decides
 * the result; a step that ignores its signal is left behind (its late result is discarded), so a
 * hung step can never hold a runner slot past its timeout.
 */
export async function runAttempt(request: AttemptRequest): Promise<AttemptResult> {
  const { definition, context, timeoutMs, shutdown } = request;
  const timeout = new AbortController();
  const settled = new AbortController();
  const signal = AbortSignal.any([timeout.signal, shutdown]);
  const timedOut = pause(context.clock, timeoutMs, settled.signal).then(() => {
    if (settled.signal.aborted) return never<AttemptResult>();
    const error = new AppError('STEP_TIMEOUT', `Step ${definition.name} did not finish within ${timeoutMs} ms.`, {
      retryable: true,
      details: { step: definition.name, timeoutMs },
    });
    timeout.abort(error);
    return { kind: 'failed', error } as const;
  });
  const interrupted = whenAborted(shutdown, settled.signal).then(() => ({ kind: 'interrupted' }) as const);
  try {
    return await Promise.race([invoke(definition, { ...context, signal }), timedOut, interrupted]);
  } finally {
    settled.abort();
  }
}

async function invoke(definition: StepDefinition, context: StepContext): Promise<AttemptResult> {
  try {
    const output = await definition.run(context);
    return { kind: 'succeeded', output: toStepOutput(definition.name, output) };
  } catch (error) {
    return { kind: 'failed', error: toAppError(error) };
  }
}

/** Copies the output as plain JSON, redacted like a log line: job records never hold secrets. */
function toStepOutput(stepName: string, output: JsonValue | void): JsonValue | null {
  if (output === undefined) return null;
  const text = JSON.stringify(redact(output));
  if (Buffer.byteLength(text) > MAX_STEP_OUTPUT_BYTES) {
    throw new AppError('INTERNAL', `Step ${stepName} returned more than ${MAX_STEP_OUTPUT_BYTES} bytes of output.`, { details: { step: stepName } });
  }
  return JSON.parse(text) as JsonValue;
}

function whenAborted(signal: AbortSignal, stopListening: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true, signal: stopListening }));
}

function never<T>(): Promise<T> {
  return new Promise<T>(() => undefined);
}
