import { randomUUID } from 'node:crypto';
import type { CreatedVm, VmCreateRequest, VmProvider } from './vnf-model.js';

/** A VmProvider with no machines behind it: addresses from 198.51.100.0/24, failures on demand. */
export class FakeVmProvider implements VmProvider {
  readonly created: Array<VmCreateRequest & CreatedVm> = [];
  readonly destroyed: string[] = [];
  private nextHost = 10;
  private failures = 0;
  private gate: Promise<void> | undefined;

  constructor(private readonly network = 'vnf-net') {}

  /** The next `count` create or destroy calls throw, as a VIM that cannot place servers would. */
  failNext(count = 1): void {
    this.failures = count;
  }

  /** Creates wait until the returned function is called, as slow VMs keep an operation PROCESSING. */
  holdCreates(): () => void {
    let release = (): void => undefined;
    this.gate = new Promise<void>((resolve) => {
      release = () => {
        this.gate = undefined;
        resolve();
      };
    });
    return release;
  }

  async create(request: VmCreateRequest): Promise<CreatedVm> {
    if (this.gate !== undefined) await this.gate;
    if (this.consumeFailure()) throw new Error(`No valid host was found for ${request.name}`);
    const vm: CreatedVm = { serverId: randomUUID(), address: `198.51.100.${this.nextHost}`, network: this.network };
    this.nextHost += 1;
    this.created.push({ ...request, ...vm });
    return vm;
  }

  destroy(serverId: string): Promise<void> {
    if (this.consumeFailure()) return Promise.reject(new Error(`Server ${serverId} could not be deleted`));
    this.destroyed.push(serverId);
    return Promise.resolve();
  }

  private consumeFailure(): boolean {
    if (this.failures === 0) return false;
    this.failures -= 1;
    return true;
  }
}
