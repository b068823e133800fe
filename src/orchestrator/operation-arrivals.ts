/**
 * Wakes the deployments of this replica that wait on an LCM operation as soon as Tacker's result
 * for it is stored. In process only: a result stored by another replica is seen at the waiter's
 * next look at the shared inbox.
 */
export class OperationArrivals {
  private readonly waiters = new Map<string, Set<() => void>>();

  announce(vnfLcmOpOccId: string): void {
    const wakers = this.waiters.get(vnfLcmOpOccId);
    this.waiters.delete(vnfLcmOpOccId);
    for (const wake of wakers ?? []) wake();
  }

  arrival(vnfLcmOpOccId: string, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) {
        resolve();
        return;
      }
      const wake = (): void => {
        signal.removeEventListener('abort', wake);
        const wakers = this.waiters.get(vnfLcmOpOccId);
        wakers?.delete(wake);
        if (wakers?.size === 0) this.waiters.delete(vnfLcmOpOccId);
        resolve();
      };
      signal.addEventListener('abort', wake, { once: true });
      const wakers = this.waiters.get(vnfLcmOpOccId) ?? new Set();
      wakers.add(wake);
      this.waiters.set(vnfLcmOpOccId, wakers);
    });
  }

  /** Operations someone waits on: for tests that check nothing is left behind. */
  get waiting(): number {
    return this.waiters.size;
  }
}
