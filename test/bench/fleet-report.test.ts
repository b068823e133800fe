import { expect } from 'chai';
import type { MethodRun } from '../../bench/fleet/fleet-methods.js';
import { checkTargets, summarizeRuns, type FleetResults } from '../../bench/fleet/fleet-report.js';
import { replaceResultsSection, resultsMarkdown, TABLE_END, TABLE_START, wallChartSvg } from '../../bench/fleet/performance-docs.js';

function run(method: MethodRun['method'], vms: number, wallMs: number, cpuMs: number): MethodRun {
  return { method, vms, wallMs, cpuMs, peakRssBytes: 100e6, ...(method === 'product' ? { stepDurationsMs: { deliver: [wallMs * 0.8], verify: [wallMs * 0.1] } } : {}) };
}

const runs: MethodRun[] = [
  run('product', 10, 6_000, 150),
  run('product', 10, 5_000, 180),
  run('product', 10, 7_000, 210),
  run('ansible', 10, 45_000, 30_000),
  run('floor', 10, 4_500, 100),
  run('product', 50, 40_000, 1_500),
  run('ansible', 50, 200_000, 90_000),
  run('floor', 50, 20_000, 500),
];

describe('fleet benchmark report', function () {
  it('summarises each method and size with min and median wall, CPU per VM and median step times', function () {
    const [product] = summarizeRuns(runs, [10, 50]);
    expect(product).to.include({ method: 'product', vms: 10, wallMinMs: 5_000, wallMedianMs: 6_000, cpuMedianMs: 180, cpuPerVmMs: 18 });
    expect(product?.stepMedianMs).to.deep.equal({ deliver: 4_800, verify: 600 });
  });

  it('checks every target on medians and reports the misses with their values', function () {
    const checks = checkTargets(summarizeRuns(runs, [10, 50]), [10, 50]);
    const byName = (target: string, vms: number | null): { value: number; met: boolean } | undefined => checks.find((check) => check.target.startsWith(target) && check.vms === vms);
    expect(byName('product wall / floor wall', 10)).to.deep.include({ met: true });
    expect(byName('product wall / floor wall', 50)).to.deep.include({ value: 2, met: false });
    expect(byName('Ansible wall / product wall', 10)).to.deep.include({ value: 7.5, met: true });
    expect(byName('injector CPU per VM (ms)', 50)).to.deep.include({ value: 30, met: false });
    expect(byName('product peak RSS (MB)', 50)).to.deep.include({ value: 100, met: true });
    // 40 s for 5× the VMs of 6 s is 1.33× linear: worse than linear, a miss.
    expect(byName('product wall growth', null)?.met).to.equal(false);
  });

  it('writes the docs section between its markers and draws the chart as SVG with a line per method', async function () {
    const summary = summarizeRuns(runs, [10, 50]);
    const results: FleetResults = {
      date: '2026-12-03T12:00:00.000Z',
      machine: { cpus: 2, cpuModel: 'test cpu', memoryGiB: 24, kernel: '6.1', node: 'v24.21.0', ansible: '2.14.18', loadAverage: [0.1, 0.2, 0.3] },
      vmCounts: [10, 50],
      repetitions: 1,
      runs,
      summary,
      targets: checkTargets(summary, [10, 50]),
    };
    const section = resultsMarkdown(results, 'bench/results/fleet-test.json', 'chart.svg');
    expect(section).to.contain('| product | 10 | 5.00 | 6.00 | 0.18 | 18.0 | 100 |');
    expect(section).to.contain('| product wall / floor wall | 50 | 2.00 | 1.5 | **no** |');
    const page = replaceResultsSection(`# Page\n${TABLE_START}\nold\n${TABLE_END}\ntail\n`, section);
    expect(page).to.not.contain('old');
    expect(page).to.match(/^# Page\n<!-- fleet-results:start[^\n]*\nRun of [^]*-->\ntail\n$/);
    expect(() => replaceResultsSection('# no markers', section)).to.throw(/markers/);
    const svg = await wallChartSvg(results);
    expect(svg).to.match(/^<svg/);
    for (const method of ['product', 'ansible', 'floor']) expect(svg).to.contain(`>${method}<`);
  });
});
