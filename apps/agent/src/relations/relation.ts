/**
 * What a relation module is: one per interface the charm speaks, listed in relations/index.ts. Each reads its
 * part of the unit's state (gather: never writes), acts once the registry is configured (publish), and may
 * say something of the unit's status.
 */
import type { Backend, Machine } from '@regop/ops';
import type { CharmConfig } from '../options.js';
import type { UnitState } from '../state.js';
import type { Status } from '../status.js';
import type { RemoteUnit } from './remote.js';

/** What every part of the charm may know of the unit before acting. */
export interface UnitFacts {
  unitName: string;
  appName: string;
  address: string;
  publicAddress: string;
  hostName: string;
  leader: boolean;
  config: CharmConfig;
}

/** How the registry serves once configured: what relations tell their peers. */
export interface Served {
  port: number;
  tlsOn: boolean;
  /** The CA clients verify the registry with, when TLS is on and one is known. */
  ca?: string;
  /** Where the CA is on the machine (for the health check). */
  caPath?: string;
  /** Basic auth credentials clients use, when basic auth is on. */
  basicAuth?: { user: string; password: string };
  /** host:port clients reach the registry at, and its URL. */
  netloc: string;
  url: string;
}

export interface RelationModule<S> {
  readonly endpoint: string;
  /** This relation's state from its remote units' data (read for every relation at once) and the unit's facts. */
  gather(remotes: RemoteUnit[], facts: UnitFacts): S;
  /** Tells the relation what it needs (and writes what it installs), once the registry is configured. */
  publish?(
    state: S,
    unit: UnitState,
    served: Served,
    io: { backend: Backend; machine: Machine },
  ): Promise<void>;
  /** What the relation says of the unit's status. */
  status?(state: S, unit: UnitState, served: Served): Status | undefined;
  /** A remark added to the unit's active status. */
  note?(state: S, served: Served): string | undefined;
}
