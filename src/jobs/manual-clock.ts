import type { Clock } from '../clock.js';

interface Sleeper {
  at: number;
  order: number;
  resolve: () => void;
}

/**
 * A clock that moves only when told to. Tests advance it past a backoff or an attempt timeout
 * and the waiting code runs at once, so no test waits in real time.
 */
export class ManualClock implements Clock {
  private current: number;
  private sleepers: Sleeper[] = [];
  private created = 0;

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (ms <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const sleeper: Sleeper = { at: this.current + ms, order: this.created++, resolve };
      const onAbort = (): void => {
        this.sleepers = this.sleepers.filter((other) => other !== sleeper);
        resolve();
      };
      sleeper.resolve = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.sleepers.push(sleeper);
    });
  }

  /** How many sleeps are waiting; lets a test know the code under test has started waiting. */
  get pendingSleeps(): number {
    return this.sleepers.length;
  }

  /** When the earliest waiting sleep ends, or null when nothing waits. */
  nextWakeAt(): number | null {
    return this.sleepers.reduce<number | null>((earliest, sleeper) => (earliest === null || sleeper.at < earliest ? sleeper.at : earliest), null);
  }

  /**
   * Moves time forward by `ms`, waking sleepers in deadline order and letting the code they
   * release run (one macrotask turn each) before the next one wakes.
   */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    for (let due = this.nextDue(target); due !== undefined; due = this.nextDue(target)) {
      this.sleepers = this.sleepers.filter((sleeper) => sleeper !== due);
      this.current = Math.max(this.current, due.at);
      due.resolve();
      await settle();
    }
    this.current = target;
    await settle();
  }

  private nextDue(target: number): Sleeper | undefined {
    const due = this.sleepers.filter((sleeper) => sleeper.at <= target);
    due.sort((a, b) => a.at - b.at || a.order - b.order);
    return due[0];
  }
}

function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
