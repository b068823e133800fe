import { median } from '../support/latency-summary.js';
import type { MethodName, MethodRun } from './fleet-methods.js';

/** What bench/results/fleet-<date>.json holds; scripts/render-performance-docs.ts reads it. */
export interface FleetResults {
  date: string;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; kernel: string; node: string; ansible: string; loadAverage: number[] };
  vmCounts: number[];
  repetitions: number;
  runs: MethodRun[];
  summary: FleetSummaryRow[];
  targets: TargetCheck[];
}

export interface FleetSummaryRow {
  method: MethodName;
  vms: number;
  wallMinMs: number;
  wallMedianMs: number;
  cpuMedianMs: number;
  peakRssMedianBytes: number;
  cpuPerVmMs: number;
  /** The product only. */
  stepMedianMs?: Record<string, number>;
}

export interface TargetCheck {
  target: string;
  vms: number | null;
  value: number;
  limit: number;
  met: boolean;
}

const SPEEDUP_TARGET = 'Ansible wall / product wall';

export const METHODS: readonly MethodName[] = ['product', 'ansible', 'floor'];

function summarize(method: MethodName, vms: number, runs: MethodRun[]): FleetSummaryRow {
  const walls = runs.map((run) => run.wallMs);
  const cpuMedianMs = median(runs.map((run) => run.cpuMs));
  const row: FleetSummaryRow = { method, vms, wallMinMs: Math.min(...walls), wallMedianMs: median(walls), cpuMedianMs, peakRssMedianBytes: median(runs.map((run) => run.peakRssBytes)), cpuPerVmMs: cpuMedianMs / vms };
  if (method !== 'product') return row;
  const steps = new Map<string, number[]>();
  for (const run of runs) for (const [step, durations] of Object.entries(run.stepDurationsMs ?? {})) steps.set(step, [...(steps.get(step) ?? []), ...durations]);
  return { ...row, stepMedianMs: Object.fromEntries([...steps].map(([step, durations]) => [step, median(durations)])) };
}

export function summarizeRuns(runs: readonly MethodRun[], vmCounts: readonly number[]): FleetSummaryRow[] {
  return vmCounts.flatMap((vms) => METHODS.flatMap((method) => {
    const matching = runs.filter((run) => run.method === method && run.vms === vms);
    return matching.length === 0 ? [] : [summarize(method, vms, matching)];
  }));
}

function row(summary: readonly FleetSummaryRow[], method: MethodName, vms: number): FleetSummaryRow | undefined {
  return summary.find((entry) => entry.method === method && entry.vms === vms);
}

/** The targets, each as value against limit, computed on medians. */
export function checkTargets(summary: readonly FleetSummaryRow[], vmCounts: readonly number[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  // Every limit is a ceiling except the speed-up over Ansible, a floor.
  const add = (target: string, vms: number | null, value: number, limit: number): void => {
    checks.push({ target, vms, value, limit, met: target === SPEEDUP_TARGET ? value >= limit : value <= limit });
  };
  for (const vms of vmCounts) {
    const [product, ansible, floor] = METHODS.map((method) => row(summary, method, vms));
    if (product === undefined || ansible === undefined || floor === undefined) continue;
    add('product wall / floor wall', vms, product.wallMedianMs / floor.wallMedianMs, 1.5);
    if (vms === 10) add(SPEEDUP_TARGET, vms, ansible.wallMedianMs / product.wallMedianMs, 7);
    add('injector CPU per VM (ms)', vms, product.cpuPerVmMs, 20);
    if (vms === 50) add('product peak RSS (MB)', vms, product.peakRssMedianBytes / 1e6, 250);
  }
  const products = vmCounts.map((vms) => row(summary, 'product', vms)).filter((entry) => entry !== undefined);
  const [smallest, largest] = [products[0], products.at(-1)];
  if (smallest !== undefined && largest !== undefined && largest.vms > smallest.vms) {
    // Linear or better: wall per VM at the largest N no higher than at the smallest.
    const growth = largest.wallMedianMs / smallest.wallMedianMs / (largest.vms / smallest.vms);
    add(`product wall growth ${smallest.vms}→${largest.vms} VMs, relative to linear`, null, growth, 1);
  }
  return checks;
}

const seconds = (ms: number): string => (ms / 1000).toFixed(2);

export function printReport(results: FleetResults): void {
  console.table(results.summary.map((entry) => ({ method: entry.method, VMs: entry.vms, 'wall min s': seconds(entry.wallMinMs), 'wall median s': seconds(entry.wallMedianMs), 'CPU s': seconds(entry.cpuMedianMs), 'CPU ms / VM': entry.cpuPerVmMs.toFixed(1), 'peak RSS MB': (entry.peakRssMedianBytes / 1e6).toFixed(0) })));
  const ratios = results.vmCounts.flatMap((vms) => {
    const [product, ansible, floor] = METHODS.map((method) => row(results.summary, method, vms));
    if (product === undefined || ansible === undefined || floor === undefined) return [];
    return [{ VMs: vms, 'product / floor': (product.wallMedianMs / floor.wallMedianMs).toFixed(2), 'Ansible / product': (ansible.wallMedianMs / product.wallMedianMs).toFixed(2), 'injector CPU ms / VM': product.cpuPerVmMs.toFixed(1) }];
  });
  console.table(ratios);
  console.table(results.summary.filter((entry) => entry.stepMedianMs !== undefined).map((entry) => ({ VMs: entry.vms, ...Object.fromEntries(Object.entries(entry.stepMedianMs ?? {}).map(([step, ms]) => [`${step} ms`, Math.round(ms)])) })));
  console.table(results.targets.map((check) => ({ target: check.target, VMs: check.vms ?? '', value: check.value.toFixed(2), limit: check.limit, met: check.met ? 'yes' : 'NO' })));
}
