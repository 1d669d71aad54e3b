/** The `peer` relation: where the application's other units are, for the leader's server list. */
import type { RelationModule } from './relation.js';
import { addressOf } from './remote.js';
import type { Server } from './website.js';

export const PEER = 'peer';

/** The other units of the application that have published an address. */
export const peer: RelationModule<{ units: Server[] }> = {
  endpoint: PEER,
  gather: (remotes, facts) => ({
    units: remotes
      .map((u) => ({ unit: u.unit, address: addressOf(u.data) }))
      .filter((u): u is Server => !!u.address && u.unit !== facts.unitName),
  }),
};
