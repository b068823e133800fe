import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { replaceResultsSection, resultsMarkdown, wallChartSvg } from '../bench/fleet/performance-docs.js';
import type { FleetResults } from '../bench/fleet/fleet-report.js';

/**
 * `npm run docs:performance [-- bench/results/fleet-<date>.json]`: writes the fleet table and
 * chart of docs/performance.md from a results file (default: the newest in bench/results).
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const resultsDir = path.join(root, 'bench', 'results');
const newest = readdirSync(resultsDir).filter((name) => /^fleet-.*\.json$/.test(name)).sort().at(-1);
const source = process.argv[2] ?? (newest === undefined ? undefined : path.join(resultsDir, newest));
if (source === undefined) {
  console.error('No bench/results/fleet-*.json yet: run npm run bench:fleet first.');
  process.exit(1);
}
const results = JSON.parse(readFileSync(source, 'utf8')) as FleetResults;
const chartFile = 'performance-fleet.svg';
writeFileSync(path.join(root, 'docs', chartFile), await wallChartSvg(results));
const pagePath = path.join(root, 'docs', 'performance.md');
const section = resultsMarkdown(results, path.relative(root, source), chartFile);
writeFileSync(pagePath, replaceResultsSection(readFileSync(pagePath, 'utf8'), section));
console.log(`docs/performance.md and docs/${chartFile} written from ${path.relative(root, source)}`);
