/** The `peer` relation: where the application's other units are, for the leader's server list. */
import type { Backend } from '@regop/ops';
import { addressOf, remoteUnits } from './remote.js';
import type { Server } from './website.js';

export const PEER = 'peer';

/** This unit and every peer that has published an address. */
export async function applicationUnits(backend: Backend, self: Server): Promise<Server[]> {
  const peers = (await remoteUnits(backend, PEER))
    .map((u) => ({ unit: u.unit, address: addressOf(u.data) }))
    .filter((u): u is Server => !!u.address);
  return [self, ...peers.filter((p) => p.unit !== self.unit)];
}
