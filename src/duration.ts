import { z } from 'zod';

/** Durations are written like '90s', '5m', '1h30m' or '250ms' in config and specs. */
export const durationSchema = z
  .string()
  .regex(/^(\d+(ms|s|m|h))+$/, 'must be a duration such as 250ms, 90s, 5m or 1h30m')
  .describe('A duration: digits followed by ms, s, m or h, e.g. 90s or 1h30m.');

const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function durationToMs(duration: string): number {
  let total = 0;
  for (const match of duration.matchAll(/(\d+)(ms|s|m|h)/g)) {
    total += Number(match[1]) * (DURATION_UNIT_MS[match[2] ?? 's'] ?? 0);
  }
  return total;
}
