import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { FleetResults, FleetSummaryRow } from './fleet-report.js';

/**
 * The fleet section of docs/performance.md and its chart, made from a results file only, so the
 * published figures are always the ones a run wrote (scripts/render-performance-docs.ts).
 */
export const TABLE_START = '<!-- fleet-results:start (written by npm run docs:performance; do not edit by hand) -->';
export const TABLE_END = '<!-- fleet-results:end -->';

const seconds = (ms: number): string => (ms / 1000).toFixed(2);

function summaryTable(summary: readonly FleetSummaryRow[]): string[] {
  return [
    '| method | VMs | wall min (s) | wall median (s) | controller CPU (s) | CPU per VM (ms) | peak RSS (MB) |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...summary.map((row) => `| ${row.method} | ${row.vms} | ${seconds(row.wallMinMs)} | ${seconds(row.wallMedianMs)} | ${seconds(row.cpuMedianMs)} | ${row.cpuPerVmMs.toFixed(1)} | ${(row.peakRssMedianBytes / 1e6).toFixed(0)} |`),
  ];
}

function stepTable(summary: readonly FleetSummaryRow[]): string[] {
  const products = summary.filter((row) => row.stepMedianMs !== undefined);
  const steps = [...new Set(products.flatMap((row) => Object.keys(row.stepMedianMs ?? {})))];
  if (steps.length === 0) return [];
  return [
    `| VMs | ${steps.map((step) => `${step} (ms)`).join(' | ')} |`,
    `|---:|${steps.map(() => '---:').join('|')}|`,
    ...products.map((row) => `| ${row.vms} | ${steps.map((step) => Math.round(row.stepMedianMs?.[step] ?? 0)).join(' | ')} |`),
  ];
}

function targetTable(results: FleetResults): string[] {
  return [
    '| target | VMs | measured | limit | met |',
    '|---|---:|---:|---:|---|',
    ...results.targets.map((check) => `| ${check.target} | ${check.vms ?? 'all'} | ${check.value.toFixed(2)} | ${check.limit} | ${check.met ? 'yes' : '**no**'} |`),
  ];
}

export function resultsMarkdown(results: FleetResults, source: string, chartFile: string): string {
  const { machine } = results;
  return [
    TABLE_START,
    `Run of ${results.date} (\`${source}\`): ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}, ansible-core ${machine.ansible}; load average at the end ${machine.loadAverage.map((load) => load.toFixed(1)).join(' / ')}; ${results.repetitions} repetitions per method and size, medians.`,
    '',
    ...summaryTable(results.summary),
    '',
    'Median time of each product job step:',
    '',
    ...stepTable(results.summary),
    '',
    ...targetTable(results),
    '',
    `![Wall time against fleet size, per method](${chartFile})`,
    TABLE_END,
  ].join('\n');
}

/** Wall time against N, one line per method, with each run as a point: drawn by Vega-Lite. */
export async function wallChartSvg(results: FleetResults): Promise<string> {
  const values = results.runs.map((run) => ({ method: run.method, vms: run.vms, wall: run.wallMs / 1000 }));
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Fleet install: wall time against fleet size',
    width: 480,
    height: 300,
    background: 'white',
    data: { values },
    encoding: {
      x: { field: 'vms', type: 'quantitative', title: 'VMs installed at once' },
      y: { field: 'wall', type: 'quantitative', title: 'wall time (s)' },
      color: { field: 'method', type: 'nominal', title: 'method' },
    },
    layer: [
      { mark: { type: 'line', point: false }, encoding: { y: { aggregate: 'median', field: 'wall', type: 'quantitative', title: 'wall time (s)' } } },
      { mark: { type: 'point', opacity: 0.6 } },
    ],
  };
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Replaces the marked section of the page, or fails if the markers are missing. */
export function replaceResultsSection(page: string, section: string): string {
  const start = page.indexOf(TABLE_START);
  const end = page.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error('docs/performance.md lacks the fleet results markers');
  return `${page.slice(0, start)}${section}${page.slice(end + TABLE_END.length)}`;
}
