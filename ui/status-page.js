// The status page: a static shell that holds no data. Everything shown comes from the bearer-authenticated
// API; the token lives in sessionStorage (this tab only) and goes out as an Authorization header on
// fetch. EventSource cannot send that header, so the page polls.
const TOKEN_KEY = 'vmsi.token';
const POLL_MS = Number(new URLSearchParams(location.search).get('pollMs') ?? 2000);

const $ = (id) => document.getElementById(id);
let selectedJobId = null;
let timer = null;

class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? `HTTP ${status}`);
    this.status = status;
    this.code = problem?.code;
  }
}

async function api(method, path) {
  const response = await fetch(path, { method, headers: { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) ?? ''}` } });
  const body = response.headers.get('content-type')?.includes('json') ? await response.json() : null;
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

/** Builds an element; text is always set with textContent, so no answer is ever parsed as HTML. */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === 'text') node.textContent = value;
    else if (key === 'onclick') node.addEventListener('click', value);
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

const badge = (state) => el('span', { class: `badge ${state}`, text: state.replace('_', ' ') });
const time = (iso) => (iso === null || iso === undefined ? '–' : new Date(iso).toLocaleTimeString([], { hour12: false }));
const seconds = (ms) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;

function showLogin(error) {
  clearTimeout(timer);
  sessionStorage.removeItem(TOKEN_KEY);
  $('status').hidden = true;
  $('live').hidden = true;
  $('sign-out').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = error ?? '';
}

function renderJobs(jobs) {
  const rows = jobs.map((job) =>
    el(
      'tr',
      { 'data-job': job.id, class: job.id === selectedJobId ? 'selected' : '', onclick: () => selectJob(job.id) },
      el('td', { class: 'mono', text: `${new Date(job.createdAt).toLocaleDateString()} ${time(job.createdAt)}` }),
      el('td', { text: job.kind }),
      el('td', {}, badge(job.state)),
      el('td', { text: job.vm.name || job.subjectKey }),
      el('td', { class: 'muted', text: job.stateReason }),
    ),
  );
  $('jobs').tBodies[0].replaceChildren(...(rows.length > 0 ? rows : [el('tr', {}, el('td', { colspan: '5', class: 'muted', text: 'No jobs yet.' }))]));
}

function stepTimeline(job) {
  const start = Date.parse(job.createdAt);
  const end = Math.max(Date.parse(job.finishedAt ?? job.updatedAt), ...job.steps.map((step) => Date.parse(step.finishedAt ?? step.startedAt ?? job.createdAt)), start + 1);
  const span = end - start;
  const cells = job.steps.flatMap((step) => {
    const from = step.startedAt === null ? 0 : Date.parse(step.startedAt) - start;
    const to = step.finishedAt === null ? (step.state === 'running' ? span : from) : Date.parse(step.finishedAt) - start;
    // CSSOM, not a style attribute: the page's Content-Security-Policy allows no inline styles.
    const bar = el('div', { class: `bar ${step.state}` });
    bar.style.left = `${(100 * from) / span}%`;
    bar.style.width = `${(100 * Math.max(to - from, 0)) / span}%`;
    const error = step.lastError === null ? '' : ` · ${step.lastError.code}`;
    return [
      el('div', { class: 'mono', text: step.name }),
      el('div', { class: 'track', title: step.lastError?.message ?? '' }, step.startedAt === null ? null : bar),
      el('div', {}, badge(step.state), el('span', { class: 'muted', text: ` ${step.attempts}× ${seconds(step.durationMs)}${error}` })),
    ];
  });
  return el('div', { class: 'timeline' }, ...cells);
}

async function act(job, action) {
  try {
    await api('POST', `/v1/injections/${job.id}/${action}`);
    $('message').textContent = '';
  } catch (error) {
    if (error.status === 401) return showLogin('The token is no longer accepted.');
    $('message').textContent = `${action} failed: ${error.message}`;
  }
  return refresh();
}

function jobActions(job) {
  if (job.state !== 'failed_temp') return null;
  return el(
    'div',
    { class: 'actions' },
    el('button', { type: 'button', class: 'primary', id: 'retry', text: 'Retry', onclick: () => act(job, 'retry') }),
    el('button', { type: 'button', class: 'danger', id: 'abandon', text: 'Abandon', onclick: () => act(job, 'abandon') }),
  );
}

function renderJobDetail(job) {
  const error = job.lastError === null ? null : el('p', { class: 'error', text: `${job.lastError.code}: ${job.lastError.message}` });
  const log = (job.log ?? []).join('\n') || '(no log lines)';
  $('job-detail').replaceChildren(
    el('h2', { text: `Job ${job.id}` }),
    el('p', {}, badge(job.state), el('span', { text: ` ${job.kind} · ${job.vm.name} ${job.vm.address} · ${job.stateReason}` })),
    error,
    jobActions(job),
    el('h3', { text: 'Steps' }),
    stepTimeline(job),
    el('h3', { text: 'Log tail (redacted)' }),
    el('pre', { id: 'log', text: log }),
  );
  $('job-detail').hidden = false;
}

function renderVnfs(groups) {
  const cards = groups.map((group) =>
    el(
      'div',
      {},
      el('h3', { class: 'mono', text: group.vnfInstanceId ?? 'Injected by hand' }),
      el(
        'ul',
        { class: 'plain' },
        ...group.vms.map((vm) => el('li', {}, badge(vm.lastJob.state), el('span', { text: ` ${vm.name} ${vm.address}${vm.vduId ? ` (${vm.vduId})` : ''} · ${vm.lastJob.kind}` }))),
      ),
    ),
  );
  $('vnfs').replaceChildren(cards.length > 0 ? el('div', { class: 'grid' }, ...cards) : el('p', { class: 'muted', text: 'No VMs yet.' }));
}

function serviceCard(status) {
  const microservices = status.microservices.map((ms) => el('li', {}, badge(ms.ready ? 'ready' : 'waiting'), el('span', { text: ` ${ms.name} (${ms.kind} ${ms.version})` })));
  const connections = status.connections.map((connection) => {
    const present = connection.objects.filter((object) => object.present).length;
    const state = present === connection.objects.length ? 'ready' : 'missing';
    return el('li', {}, badge(state), el('span', { text: ` ${connection.from} → ${connection.to}:${connection.port} · ${present}/${connection.objects.length} Istio objects` }));
  });
  return el(
    'div',
    {},
    el('h3', { text: `${status.service} · ${status.namespace}` }),
    el('p', {}, badge(status.deployment?.state ?? 'pending'), el('span', { class: 'muted', text: ` ${status.deployment?.kind ?? ''} ${status.problem ?? ''}` })),
    el('ul', { class: 'plain' }, ...microservices),
    el('h3', { text: 'Connections' }),
    el('ul', { class: 'plain' }, ...(connections.length > 0 ? connections : [el('li', { class: 'muted', text: 'none' })])),
  );
}

async function loadServices() {
  let summaries;
  try {
    summaries = (await api('GET', '/v1/orchestrator/services')).items;
  } catch (error) {
    if (error.status === 404) return el('p', { class: 'muted', text: 'The orchestrator is not configured on this service.' });
    throw error;
  }
  const statuses = await Promise.all(summaries.map((summary) => api('GET', `/v1/orchestrator/services/${encodeURIComponent(summary.service)}`).catch(() => null)));
  const cards = statuses.filter((status) => status !== null).map(serviceCard);
  return cards.length > 0 ? el('div', { class: 'grid' }, ...cards) : el('p', { class: 'muted', text: 'No services deployed.' });
}

async function refresh() {
  clearTimeout(timer);
  try {
    const [jobs, vms, services, detail] = await Promise.all([
      api('GET', '/v1/injections?limit=50'),
      api('GET', '/v1/vms'),
      loadServices(),
      selectedJobId === null ? null : api('GET', `/v1/injections/${selectedJobId}`),
    ]);
    renderJobs(jobs.items);
    renderVnfs(vms.items);
    $('services').replaceChildren(services);
    if (detail !== null) renderJobDetail(detail);
    $('updated').textContent = time(new Date().toISOString());
    $('live').hidden = false;
  } catch (error) {
    if (error.status === 401) return showLogin('The token was not accepted.');
    $('message').textContent = `Could not refresh: ${error.message}`;
  }
  timer = setTimeout(refresh, POLL_MS);
  return undefined;
}

function selectJob(id) {
  selectedJobId = id;
  return refresh();
}

function showStatus() {
  $('login').hidden = true;
  $('status').hidden = false;
  $('sign-out').hidden = false;
  return refresh();
}

$('login').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
  $('token').value = '';
  void showStatus();
});
$('sign-out').addEventListener('click', () => showLogin());
if (sessionStorage.getItem(TOKEN_KEY) === null) showLogin();
else void showStatus();
