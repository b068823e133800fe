import type { LcmOpOccListing, LcmOpOccWithError } from '../tacker/vnf-lcm-op-occ.js';
import type { NormalizedVnfInstance } from '../tacker/vnf-instance.js';

/**
 * Port: what the Tacker plugin reads back from Tacker (an operation's resource changes when the
 * notification had none, the instance's VNFCs, missed operations after downtime). Implemented by
 * the SOL 003 HTTP client, src/tacker/tacker-client.ts; errors are AppErrors that say whether a
 * retry may help.
 */
export interface TackerLcmReader {
  getLcmOpOcc(id: string): Promise<LcmOpOccWithError>;
  listLcmOpOccs(options?: { sinceIso?: string }): Promise<LcmOpOccListing>;
  getVnfInstance(id: string): Promise<NormalizedVnfInstance>;
}
