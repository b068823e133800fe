import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { activeTraceparent, inSpan, withTraceHeaders } from './tracing.js';

const run = promisify(execFile);
const PROBE = path.join(import.meta.dirname, '../../test/support/sdk-load-probe.ts');

async function packagesLoaded(config: Record<string, unknown>): Promise<string[]> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', PROBE, JSON.stringify(config)], { timeout: 60_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '[]') as string[];
}

describe('tracing', function () {
  this.timeout(120_000);
  let dataDir: string;
  beforeEach(function () {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-tracing-'));
  });
  afterEach(function () {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('is a no-op without a provider: no trace context to store or send', async function () {
    const seen = await inSpan('work', {}, () => Promise.resolve({ traceparent: activeTraceparent(), headers: withTraceHeaders({ accept: 'application/json' }) }));
    expect(seen).to.deep.equal({ traceparent: null, headers: { accept: 'application/json' } });
  });

  it('loads none of the OpenTelemetry SDK when tracing is off, and the SDK when it is on', async function () {
    const base = { dataDir, http: { host: '127.0.0.1', port: 0 } };
    expect(await packagesLoaded(base)).to.deep.equal(['@opentelemetry/api']);
    // A closed loopback port: the exporter's failures at shutdown are logged, not fatal.
    const on = await packagesLoaded({ ...base, telemetry: { tracing: { endpoint: 'http://127.0.0.1:1/v1/traces' } } });
    expect(on).to.include.members(['@opentelemetry/sdk-trace', '@opentelemetry/exporter-trace-otlp-http']);
  });
});
