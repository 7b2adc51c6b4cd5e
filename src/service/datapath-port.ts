/**
 * What the service registry needs of the datapath: the load-balancer half
 * of DatapathState (src/datapath/state.ts). An interface of its own so the
 * registry stays pure and unit-tests against a fake.
 */
import type { LbFrontend, RealizedFrontend } from './lb-types.js';

export interface ServiceDatapath {
  /** Writes one frontend with all its backends so that a packet never sees a half state. */
  syncService(f: LbFrontend): { written: number; deleted: number };
  /** Removes a frontend (by id) and what only it used. Tolerates an absent one. */
  deleteService(id: number): void;
  /** Every frontend the kernel holds, read back from the pinned maps. */
  realizedServices(): RealizedFrontend[];
}
