/**
 * The relations the charm speaks (metadata.yaml's endpoints), one module each. Every reconcile reads all of
 * them at once, gathers each one's state, publishes to each once the registry is configured, and collects
 * what each says of the status. Adding a relation is a module and a line here.
 */
import { certProvider } from './cert-provider.js';
import { dockerRegistry } from './docker-registry.js';
import { nrpe } from './nrpe.js';
import { peer } from './peer.js';
import type { RelationModule } from './relation.js';
import { website } from './website.js';

export const RELATIONS = { website, peer, certProvider, dockerRegistry, nrpe } as const;

export type RelationName = keyof typeof RELATIONS;

/** Each relation's state, by name. */
export type RelationStates = {
  [K in RelationName]: (typeof RELATIONS)[K] extends RelationModule<infer S> ? S : never;
};

/** The table's entries, each typed for the state kept under its name (a loop over the table sees them alike). */
export const relationEntries = () =>
  Object.entries(RELATIONS) as [RelationName, RelationModule<RelationStates[RelationName]>][];
