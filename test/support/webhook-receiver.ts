import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignature } from '../../src/notify/webhook-notifier.js';
import type { InjectionEvent } from '../../src/notify/notifier.js';

export interface ReceivedEvent {
  event: InjectionEvent;
  signatureValid: boolean;
  /** The W3C trace context the sender propagated, if any. */
  traceparent?: string;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The orchestrator's side: checks every signature and de-duplicates by CloudEvents id, as receivers must. */
export class WebhookReceiver {
  readonly deliveries: ReceivedEvent[] = [];
  private server: Server | undefined;
  private port = 0;

  constructor(private readonly secret: Buffer) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/events`;
  }

  /** Unique events by id, in arrival order. */
  get events(): InjectionEvent[] {
    const seen = new Map<string, InjectionEvent>();
    for (const delivery of this.deliveries) if (!seen.has(delivery.event.id)) seen.set(delivery.event.id, delivery.event);
    return [...seen.values()];
  }

  /** Listens on the same port across restarts, so a receiver can be down and come back. */
  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void readBody(req).then((body) => {
        const signatureValid = verifySignature(body, String(req.headers['x-vmsi-signature'] ?? ''), this.secret);
        const traceparent = req.headers.traceparent;
        this.deliveries.push({ event: JSON.parse(body.toString('utf8')) as InjectionEvent, signatureValid, ...(typeof traceparent === 'string' ? { traceparent } : {}) });
        res.writeHead(signatureValid ? 204 : 401).end();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async waitFor(predicate: (events: InjectionEvent[]) => boolean, timeoutMs = 30_000): Promise<InjectionEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (predicate(this.events)) return this.events;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`webhook events never matched; got ${JSON.stringify(this.events.map((event) => event.type))}`);
  }
}
