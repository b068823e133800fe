import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  method: string;
  path: string;
  /** Index of the backend that answered; -1 when none could be reached. */
  backend: number;
  status: number;
}

export interface RoundRobinProxy {
  readonly url: string;
  /** Every request forwarded, in order. */
  requests(): ProxiedRequest[];
  close(): Promise<void>;
}

/**
 * The load balancer in front of the replicas, as an operator would put one (HAProxy, an Ingress):
 * one address, requests spread in turn over the backends, one request per backend connection, and
 * a backend that refuses connections skipped for the next one. Loopback only.
 */
export async function startRoundRobinProxy(backends: () => readonly string[]): Promise<RoundRobinProxy> {
  const seen: ProxiedRequest[] = [];
  let next = 0;
  const forward = (incoming: IncomingMessage, body: Buffer, response: ServerResponse, tried: number): void => {
    const targets = backends();
    if (tried >= targets.length) {
      seen.push({ method: incoming.method ?? '', path: incoming.url ?? '', backend: -1, status: 502 });
      response.writeHead(502).end();
      return;
    }
    const index = next++ % targets.length;
    const target = new URL(incoming.url ?? '/', targets[index]);
    const outgoing = httpRequest(target, { method: incoming.method, headers: { ...incoming.headers, host: target.host, connection: 'close' }, agent: false }, (answer) => {
      seen.push({ method: incoming.method ?? '', path: incoming.url ?? '', backend: index, status: answer.statusCode ?? 0 });
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    outgoing.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED' && !response.headersSent) forward(incoming, body, response, tried + 1);
      else response.destroy(error);
    });
    outgoing.end(body);
  };
  const server: Server = createServer((incoming, response) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => forward(incoming, Buffer.concat(chunks), response, 0));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => [...seen],
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
