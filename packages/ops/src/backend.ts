/** What a charm can ask of Juju: one method per hook tool it uses. */

export type StatusName = 'active' | 'blocked' | 'maintenance' | 'waiting';
export type LogLevel = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';

export interface Backend {
  configGet(): Promise<Record<string, unknown>>;
  isLeader(): Promise<boolean>;
  leaderGet(): Promise<Record<string, string>>;
  leaderSet(values: Record<string, string | null>): Promise<void>;
  statusSet(status: StatusName, message: string): Promise<void>;
  /** The unit's address for its peers and clients (network-get, else unit-get private-address). */
  privateAddress(): Promise<string>;
  /** The address the unit is reached at from outside its network (unit-get public-address). */
  publicAddress(): Promise<string>;
  openPort(port: number): Promise<void>;
  closePort(port: number): Promise<void>;
  /** Ports this unit has opened (opened-ports). */
  openedPorts(): Promise<number[]>;
  relationIds(endpoint: string): Promise<string[]>;
  relationList(relationId: string): Promise<string[]>;
  relationGet(relationId: string, unitOrApp: string): Promise<Record<string, string>>;
  relationSet(relationId: string, values: Record<string, string | null>, app?: boolean): Promise<void>;
  actionGet(): Promise<Record<string, unknown>>;
  actionSet(values: Record<string, string>): Promise<void>;
  actionFail(message: string): Promise<void>;
  actionLog(message: string): Promise<void>;
  log(message: string, level?: LogLevel): Promise<void>;
}
