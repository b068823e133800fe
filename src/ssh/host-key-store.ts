/**
 * Port: host keys learned under the accept-new policy, one per server. `serverKey` is the Nova
 * server id when known (it survives address changes), else `[address]:port`.
 */
export interface HostKeyStore {
  /** The recorded key as `<type> <base64>`, or undefined when this server was never seen. */
  get(serverKey: string): Promise<string | undefined>;
  /**
   * Records the key seen first. Recording the same key again is a no-op; a different key for a
   * server already recorded is refused with SSH_HOST_KEY_MISMATCH, so two racing first connections
   * cannot both win.
   */
  record(serverKey: string, publicKey: string): Promise<void>;
  /** Drops a server's key, for a VM that was deleted so its address or id may come back with a new key. */
  forget(serverKey: string): Promise<void>;
}
