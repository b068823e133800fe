import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { JobView } from '../../src/injection/job-view.js';
import { CLOSED_SSH_PORT, containerDescriptor, startFullService, type FullService } from '../support/full-service.js';
import { validSpecInput } from '../support/spec-fixtures.js';
import { PROJECT_ROOT } from '../support/vmsi-cli.js';

/**
 * The status page in a real browser: Debian's chromium, driven by playwright-core, against a real
 * `vmsi serve` with the Tacker plugin and the orchestrator. Screenshots go to docs/images.
 */
const CHROMIUM = '/usr/bin/chromium';
const VNF_INSTANCE_ID = 'e7a1c0b2-3f4d-4c6e-9a8b-1d2e3f4a5b6c';
// A run leaves the committed screenshots alone unless asked to refresh them (like UPDATE_GOLDEN).
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? path.join(PROJECT_ROOT, 'docs', 'images') : path.join(os.tmpdir(), 'vmsi-status-page-screenshots');

describe('status page at /ui, in chromium', function () {
  this.timeout(180_000);
  let full: FullService;
  let profileDir: string;
  let context: BrowserContext;
  let page: Page;
  let manualJobId: string;

  async function api<T>(method: string, route: string, body?: unknown): Promise<T> {
    const { status, body: answer } = await full.service.request<T>(method, route, body);
    expect(status, `${method} ${route}`).to.be.lessThan(300);
    return answer;
  }

  async function waitForState(id: string, states: string[]): Promise<JobView> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const job = await api<JobView>('GET', `/v1/injections/${id}`);
      if (states.includes(job.state)) return job;
      if (Date.now() > deadline) throw new Error(`job ${id} stayed ${job.state}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  async function signIn(token: string): Promise<void> {
    await page.fill('#token', token);
    await page.click('#login button[type=submit]');
  }

  before(async function () {
    full = await startFullService();
    const manual = await api<JobView>('POST', '/v1/injections', validSpecInput({ vm: { name: 'billing-vm', address: '127.0.0.1', ssh: { user: 'debian', port: CLOSED_SSH_PORT, privateKeyRef: { secret: 'lab-key' } } } }));
    manualJobId = manual.id;
    for (const [index, name] of ['vnf-a-vdu1-0', 'vnf-a-vdu1-1'].entries()) {
      full.cloud.addServer({ id: `5d6e7f80-91a2-4b3c-8d4e-5f60718293a${index}`, name, status: 'ACTIVE', networks: { 'vm-net': [{ addr: '127.0.0.1', version: 4, type: 'fixed' }] }, metadata: {} });
    }
    const mgmt = await api<{ jobs: unknown[]; skipped: unknown[] }>('POST', '/v1/tacker/mgmt', {
      hook: 'instantiate_end',
      vnfInstanceId: VNF_INSTANCE_ID,
      operation: 'INSTANTIATE',
      servers: [0, 1].map((index) => ({ serverId: `5d6e7f80-91a2-4b3c-8d4e-5f60718293a${index}`, vduId: 'VDU1', action: 'inject' })),
      meshSidecar: { namespace: 'vm-ns', workloadGroup: 'vnf-a', serviceAccount: 'vm-sa' },
    });
    expect(mgmt.jobs, JSON.stringify(mgmt.skipped)).to.have.length(2);
    await api('POST', '/v1/orchestrator/deployments', containerDescriptor('shop'));
    await waitForState(manualJobId, ['failed_temp']);

    profileDir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-chromium-'));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    mkdirSync(SCREENSHOTS, { recursive: true });
  });

  after(async function () {
    await context?.close();
    if (profileDir !== undefined) rmSync(profileDir, { recursive: true, force: true });
    await full?.close();
  });

  it('serves a shell with no data and a strict content security policy; the data stay behind the token', async function () {
    const response = await fetch(`${full.service.url}/ui`);
    expect(response.status).to.equal(200);
    expect(response.headers.get('content-security-policy')).to.include("script-src 'self'").and.include("frame-ancestors 'none'");
    const html = await response.text();
    expect(html).to.not.include('billing-vm');
    expect((await fetch(`${full.service.url}/v1/vms`)).status).to.equal(401);
  });

  it('refuses a wrong token and keeps asking for one', async function () {
    await page.goto(`${full.service.url}/ui`);
    expect(await page.isVisible('#login')).to.equal(true);
    await signIn('not-the-token-0123456789');
    await page.waitForSelector('#login-error:has-text("not accepted")');
    expect(await page.isVisible('#status')).to.equal(false);
  });

  it('shows jobs, VMs per VNF and services with their connections once signed in', async function () {
    await signIn(full.service.token);
    await page.waitForSelector(`tr[data-job="${manualJobId}"] .badge.failed_temp`);
    await page.waitForSelector(`#vnfs h3:has-text("${VNF_INSTANCE_ID}")`);
    await page.waitForSelector('#services h3:has-text("shop")');
    await page.waitForSelector('#services li:has-text("web → api:8080")');
    const vnfText = await page.textContent('#vnfs');
    expect(vnfText).to.include('vnf-a-vdu1-0').and.include('vnf-a-vdu1-1').and.include('Injected by hand').and.include('billing-vm');
    // The token stays in this tab: sessionStorage, never localStorage or a cookie.
    expect(await page.evaluate("[localStorage.length, document.cookie, sessionStorage.getItem('vmsi.token') !== null]")).to.deep.equal([0, '', true]);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'status-page-overview.png'), fullPage: true });
  });

  it('shows a job with its step timeline and redacted log tail, and retries then abandons it', async function () {
    await page.click(`tr[data-job="${manualJobId}"]`);
    await page.waitForSelector('#job-detail .timeline');
    const steps = await page.locator('#job-detail .timeline > .mono').allTextContents();
    expect(steps).to.include.members(['resolve', 'deliver']);
    const log = (await page.textContent('#log')) ?? '';
    expect(log).to.include('127.0.0.1');
    expect(log).to.not.match(/PRIVATE KEY|istio-token:|Bearer /);
    expect(log).to.not.include(full.service.token);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'status-page-job.png'), fullPage: true });

    const before = await api<JobView>('GET', `/v1/injections/${manualJobId}`);
    await page.click('#retry');
    const retried = await waitForState(manualJobId, ['pending', 'running', 'retry_wait', 'failed_temp']);
    expect(Date.parse(retried.updatedAt)).to.be.greaterThan(Date.parse(before.updatedAt));
    await waitForState(manualJobId, ['failed_temp']);
    await page.waitForSelector('#abandon');
    await page.click('#abandon');
    await page.waitForSelector(`tr[data-job="${manualJobId}"] .badge.failed`);
    expect((await api<JobView>('GET', `/v1/injections/${manualJobId}`)).state).to.equal('failed');
    expect(await page.isVisible('#retry')).to.equal(false);
  });

  it('updates live: a job submitted elsewhere appears without a reload', async function () {
    const submitted = await api<JobView>('POST', '/v1/injections', validSpecInput({ vm: { name: 'late-vm', address: '127.0.0.1', ssh: { user: 'debian', port: CLOSED_SSH_PORT, privateKeyRef: { secret: 'lab-key' } } } }));
    await page.waitForSelector(`tr[data-job="${submitted.id}"]`, { timeout: 15_000 });
  });

  it('keeps the session across a reload and forgets it on sign-out', async function () {
    await page.reload();
    await page.waitForSelector('#jobs tbody tr[data-job]');
    await page.click('#sign-out');
    expect(await page.isVisible('#login')).to.equal(true);
    expect(await page.evaluate("sessionStorage.getItem('vmsi.token')")).to.equal(null);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'status-page-sign-in.png') });
  });
});
