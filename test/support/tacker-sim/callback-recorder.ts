import { EventEmitter } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody, writeResponse, type SimResponse } from './sim-http.js';

export interface RecordedCallback {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The raw body text ('' when none). */
  body: string;
  /** The status this recorder answered with. */
  status: number;
}

/** Decides the answer to each request; by default every request gets 204. */
export type CallbackResponder = (request: RecordedCallback, index: number) => SimResponse | Promise<SimResponse>;

/**
 * A plain notification receiver for the simulator's own tests: records every request as it came
 * and answers as the test programs it (a status, a delay, a refusal).
 */
export class CallbackRecorder {
  readonly requests: RecordedCallback[] = [];
  private readonly events = new EventEmitter();
  private responder: CallbackResponder = () => ({ status: 204 });
  private server: Server | undefined;
  private port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}/notifications`;
  }

  respondWith(responder: CallbackResponder): void {
    this.responder = responder;
  }

  /** The POSTed notifications, parsed. */
  notifications(): Array<Record<string, unknown>> {
    return this.requests.filter((request) => request.method === 'POST').map((request) => JSON.parse(request.body) as Record<string, unknown>);
  }

  async start(): Promise<void> {
    const server = createServer((request, response) => {
      void readBody(request).then(async (body) => {
        const recorded: RecordedCallback = { method: request.method ?? '', path: request.url ?? '', headers: request.headers, body, status: 0 };
        const answer = await this.responder(recorded, this.requests.length);
        recorded.status = answer.status;
        this.requests.push(recorded);
        writeResponse(response, answer);
        this.events.emit('request');
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Resolves once `predicate` holds for the recorded requests; rejects after `timeoutMs`. */
  waitFor(predicate: (requests: RecordedCallback[]) => boolean, timeoutMs = 10_000): Promise<RecordedCallback[]> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!predicate(this.requests)) return;
        clearTimeout(timer);
        this.events.off('request', check);
        resolve(this.requests);
      };
      const timer = setTimeout(() => {
        this.events.off('request', check);
        reject(new Error(`callback requests never matched; got ${JSON.stringify(this.requests.map((request) => [request.method, request.status]))}`));
      }, timeoutMs);
      this.events.on('request', check);
      check();
    });
  }
}
