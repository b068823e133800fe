import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parse as parseYaml, stringify } from 'yaml';
import { SqliteJobStore } from '../../src/jobs/sqlite-job-store.js';
import { CALLBACK_PASSWORD, CALLBACK_USER, FULL_APP_TOKENS, basicAuthorization, startFullApp, type FullApp } from '../support/full-app.js';
import { validSpecInput } from '../support/spec-fixtures.js';

/**
 * Hostile input, bounded: a fixed seed, a fixed number of mutated requests against every route that
 * reads a body, on the real HTTP server. Every answer must be below 500 and, unless a success, a
 * problem document; memory must come back after a collection.
 */
const SEED = 0x5eed_0011;
const REQUESTS = 3_000;
/**
 * A second run as long as the first: a leak keeps growing through it. Both end within 20% of the
 * RSS at the start once V8 has been asked to give memory back; 20% of about 130 MB fails on a leak
 * of 10 KB a request.
 */
const RSS_TOLERANCE = 1.2;
/**
 * Requests before the baseline, from another seed: the first requests compile the request paths and
 * touch the node binary's pages for them, once (cold RSS measured 104–127 MB on the same code).
 */
const WARM_UP = 300;
const TIME_BOUND_MS = 240_000;

/** mulberry32: small, seedable, good enough to pick mutations reproducibly. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface Target {
  path: string;
  authorization: string;
  base: Json;
  yaml: boolean;
}

const fixture = (relative: string): Json => JSON.parse(readFileSync(new URL(`../../src/tacker/testdata/${relative}`, import.meta.url), 'utf8')) as Json;

function targets(): Target[] {
  const tacker = basicAuthorization(CALLBACK_USER, CALLBACK_PASSWORD);
  const admin = `Bearer ${FULL_APP_TOKENS.admin}`;
  const descriptor = parseYaml(readFileSync(new URL('../../src/orchestrator/testdata/mixed/descriptor.yaml', import.meta.url), 'utf8')) as Json;
  const spec = JSON.parse(JSON.stringify(validSpecInput())) as Json;
  return [
    { path: '/v1/tacker/notifications/v2', authorization: tacker, base: fixture('v2-instantiate-completed.json'), yaml: false },
    { path: '/v1/tacker/notifications/v1', authorization: tacker, base: fixture('v1-scale-completed.json'), yaml: false },
    { path: '/v1/tacker/notifications/v1', authorization: tacker, base: fixture('v1-vnf-identifier-deletion.json'), yaml: false },
    { path: '/v1/orchestrator/tacker/notifications', authorization: tacker, base: fixture('v2-scale-failed-temp.json'), yaml: false },
    { path: '/v1/injections', authorization: admin, base: spec, yaml: true },
    { path: '/v1/render', authorization: admin, base: spec, yaml: true },
    { path: '/v1/orchestrator/deployments', authorization: admin, base: descriptor, yaml: true },
    { path: '/v1/tacker/mgmt', authorization: admin, base: { hook: 'instantiate_end', vnfInstanceId: 'vnf-1', operation: 'INSTANTIATE', servers: [] }, yaml: false },
  ];
}

const HOSTILE_STRINGS = ['$(reboot)', '`id`', "'; DROP TABLE jobs; --", '../../../../etc/passwd', '\u0000', '\ud800', 'a'.repeat(70_000), '${jndi:ldap://x}', '%s%n', '\r\nX-Injected: 1'];

function hostileValue(next: () => number): Json {
  const choice = Math.floor(next() * 9);
  if (choice === 0) return HOSTILE_STRINGS[Math.floor(next() * HOSTILE_STRINGS.length)] ?? '';
  if (choice === 1) return Math.floor(next() * 3) === 0 ? -1 : 1e308;
  if (choice === 2) return null;
  if (choice === 3) return next() < 0.5;
  if (choice === 4) return [];
  // JSON.parse makes "__proto__" an own key, as a hostile body has it (an object literal would set the prototype instead).
  if (choice === 5) return JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}') as Json;
  if (choice === 6) return Array.from({ length: 2_000 }, (_, index) => index);
  if (choice === 7) return deep(Math.floor(next() * 3_000) + 10);
  return {};
}

function deep(depth: number): Json {
  let value: Json = 'bottom';
  for (let level = 0; level < depth; level++) value = level % 2 === 0 ? [value] : { nested: value };
  return value;
}

/** Replaces, removes or adds one field somewhere in a copy of `value`. */
function mutate(value: Json, next: () => number, depth = 0): Json {
  if (value === null || typeof value !== 'object' || depth > 6 || next() < 0.25) return hostileValue(next);
  const copy: Json = Array.isArray(value) ? [...value] : { ...value };
  const keys = Object.keys(copy);
  if (keys.length === 0 || next() < 0.1) {
    (copy as Record<string, Json>)[next() < 0.5 ? '__proto__' : `extra${Math.floor(next() * 10)}`] = hostileValue(next);
    return copy;
  }
  const key = keys[Math.floor(next() * keys.length)] ?? '';
  if (next() < 0.15) delete (copy as Record<string, Json>)[key];
  else (copy as Record<string, Json>)[key] = mutate((copy as Record<string, Json>)[key] ?? null, next, depth + 1);
  return copy;
}

const YAML_BOMB = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, index) => `${String.fromCharCode(98 + index)}: &${String.fromCharCode(98 + index)} [*${String.fromCharCode(97 + index)},*${String.fromCharCode(97 + index)},*${String.fromCharCode(97 + index)},*${String.fromCharCode(97 + index)},*${String.fromCharCode(97 + index)},*${String.fromCharCode(97 + index)},*${String.fromCharCode(97 + index)},*${String.fromCharCode(97 + index)},*${String.fromCharCode(97 + index)}]`)].join('\n');

interface Body {
  bytes: Buffer;
  contentType: string | undefined;
}

/** JSON is YAML too: documents too deep for the yaml stringifier go as JSON text. */
function yamlText(document: Json, json: string): string {
  try {
    return stringify(document);
  } catch {
    return json;
  }
}

/** Encodings of one mutated document: JSON, YAML, truncated, duplicate keys, bad UTF-8, alias bombs, no content type. */
function encode(target: Target, document: Json, next: () => number): Body {
  const json = JSON.stringify(document) ?? 'null';
  const form = Math.floor(next() * 8);
  if (form === 0) return { bytes: Buffer.from(json.slice(0, Math.floor(next() * json.length))), contentType: 'application/json' };
  if (form === 1) return { bytes: Buffer.from(json.replace('{', '{"id":"first","id":1,')), contentType: 'application/json' };
  if (form === 2) return { bytes: Buffer.concat([Buffer.from(json.slice(0, 20)), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from(json.slice(20))]), contentType: 'application/json; charset=utf-8' };
  if (form === 3 && target.yaml) return { bytes: Buffer.from(YAML_BOMB), contentType: 'application/yaml' };
  if (form === 4 && target.yaml) return { bytes: Buffer.from(`${yamlText(document, json)}\nkey: 1\nkey: 2\n`), contentType: 'application/yaml' };
  if (form === 5) return { bytes: Buffer.from(json), contentType: undefined };
  if (form === 6) return { bytes: Buffer.from(json), contentType: 'application/json; charset=latin1' };
  return { bytes: Buffer.from(json), contentType: 'application/json' };
}

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

/**
 * node:http rather than fetch: the client shares the process whose memory is measured, and fetch's
 * own allocator use (undici) grows resident memory by itself over thousands of requests.
 */
function post(url: URL, request: { authorization: string; body: Body; agent: http.Agent }): Promise<Answer> {
  const headers: Record<string, string> = { authorization: request.authorization, 'content-length': String(request.body.bytes.length) };
  if (request.body.contentType !== undefined) headers['content-type'] = request.body.contentType;
  return new Promise((resolve, reject) => {
    const outgoing = http.request(url, { method: 'POST', headers, agent: request.agent }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, contentType: response.headers['content-type'] ?? '', text: Buffer.concat(chunks).toString('utf8') }));
    });
    outgoing.on('error', reject);
    outgoing.end(request.body.bytes);
  });
}

type Collector = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/** A handle on the collector: mocha's node is not started with --expose-gc. */
function collector(): Collector {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as Collector;
}

/**
 * RSS after a memory-reducing collection. A plain gc() leaves resident the 256 KB heap pages V8
 * pools for reuse. This client shares the service's process, and its yaml stringify of a deeply
 * nested document peaks the heap at a few hundred MB (the service's parse of the same text costs
 * about 1 MB); measured, about 200 MB of freed pages then stayed resident, outside heapTotal and
 * V8's physical size, until a memory-reducing collection released them (RSS 326 → 138 MB).
 */
async function settledRss(gc: Collector): Promise<number> {
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  // V8 unmaps released pages on a background task.
  await new Promise((resolve) => setTimeout(resolve, 500));
  return process.memoryUsage().rss;
}

describe('fuzzing the HTTP API (fixed seed, bounded)', function () {
  this.timeout(TIME_BOUND_MS + 60_000);
  let app: FullApp;
  let dir: string;

  before(async function () {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-fuzz-'));
    // The store the service uses in production: jobs on disk, so memory measures the service, not the jobs.
    app = await startFullApp({ http: { rateLimit: { unauthenticated: 1_000_000, authenticated: 1_000_000 } }, store: SqliteJobStore.open({ path: path.join(dir, 'jobs.sqlite') }) });
  });

  after(async function () {
    await app.close();
    await app.store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`answers 2 × ${REQUESTS} mutated requests without a 5xx, each failure a problem document, and gives its memory back after a GC`, async function () {
    const next = random(SEED);
    const all = targets();
    const gc = collector();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const send = (target: Target, body: Body): Promise<Answer> => post(new URL(target.path, app.url), { authorization: target.authorization, body, agent });
    const rssCold = await settledRss(gc);
    const warmUp = random(SEED ^ 0xffff);
    for (let index = 0; index < WARM_UP; index++) {
      const target = all[index % all.length];
      if (target !== undefined) await send(target, encode(target, mutate(target.base, warmUp), warmUp));
    }
    const rssStart = await settledRss(gc);
    const heapStart = process.memoryUsage().heapUsed;
    const started = Date.now();
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let sent = 0;
    const run = async (count: number): Promise<void> => {
      const until = sent + count;
      while (sent < until && Date.now() - started < TIME_BOUND_MS) {
        const target = all[Math.floor(next() * all.length)] ?? all[0];
        if (target === undefined) break;
        const answer = await send(target, encode(target, mutate(target.base, next), next));
        sent += 1;
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        if (answer.status >= 500) failures.push(`${target.path} answered ${answer.status}: ${answer.text.slice(0, 200)}`);
        else if (answer.status >= 400 && !answer.contentType.startsWith('application/problem+json')) failures.push(`${target.path} answered ${answer.status} as ${answer.contentType}`);
      }
    };
    await run(REQUESTS);
    const rssRetained = process.memoryUsage().rss;
    const rssAfter = await settledRss(gc);
    await run(REQUESTS);
    const rssAfterTwice = await settledRss(gc);
    const heapAfter = process.memoryUsage().heapUsed;
    agent.destroy();
    const health = await fetch(`${app.url}/healthz`);
    const mb = (bytes: number): number => Math.round(bytes / 1e6);
    console.log(
      `      fuzz: ${sent} requests, statuses ${JSON.stringify(Object.fromEntries(statuses))}, 5xx ${failures.filter((line) => / 5\d\d/.test(line)).length}; RSS ${mb(rssCold)} MB cold, ${mb(rssStart)} MB after ${WARM_UP} warm-up requests, ${mb(rssRetained)} MB after ${REQUESTS} requests, ${mb(rssAfter)} MB after a memory-reducing GC, ${mb(rssAfterTwice)} MB after ${2 * REQUESTS} and a GC; JS heap ${mb(heapStart)} → ${mb(heapAfter)} MB`,
    );
    expect(failures.slice(0, 10)).to.deep.equal([]);
    expect(sent).to.equal(2 * REQUESTS);
    expect(health.status).to.equal(200);
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
    expect(heapAfter, 'JS heap after the runs, against the start').to.be.below(heapStart * RSS_TOLERANCE);
    expect(rssAfter, 'RSS after the run and a GC, against the start').to.be.below(rssStart * RSS_TOLERANCE);
    expect(rssAfterTwice, 'RSS after a second run as long and a GC, against the start (no leak)').to.be.below(rssStart * RSS_TOLERANCE);
  });
});
