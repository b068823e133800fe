/** Nearest-rank percentiles of one run's latencies, in milliseconds. */
export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function percentile(sortedAscending: readonly number[], quantile: number): number {
  if (sortedAscending.length === 0) return 0;
  return sortedAscending[Math.min(sortedAscending.length - 1, Math.ceil(quantile * sortedAscending.length) - 1)] ?? 0;
}

export function latencySummary(samples: readonly number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  return { count: sorted.length, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99), maxMs: sorted.at(-1) ?? 0 };
}

export function median(samples: readonly number[]): number {
  return percentile([...samples].sort((a, b) => a - b), 0.5);
}
