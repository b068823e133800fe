import { createServer, type Server } from 'node:net';

/**
 * Several labs can run on one host at once (parallel test processes, several engineers on one
 * machine); each holds one slot, with its own names and its own part of the address range.
 *
 * A slot is held by binding an abstract Unix socket: the bind is atomic, and the kernel releases it
 * when the holder exits however it exits, so a crashed run's slot is free again at once and its
 * leftovers can be cleaned by the next holder without any risk of touching a live lab.
 */
export const slotCount = 4;

export interface SlotClaim {
  slot: number;
  release(): Promise<void>;
}

function bindSlot(slot: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ path: `\0vmsi-lab-slot-${slot}` }, () => {
      server.unref(); // holding a slot must not keep the test process alive
      resolve(server);
    });
  });
}

/** Holds `slot` if no one else does. */
export async function holdSlot(slot: number): Promise<SlotClaim | undefined> {
  const server = await bindSlot(slot);
  if (server === undefined) return undefined;
  return { slot, release: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
