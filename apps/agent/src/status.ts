/**
 * The unit's status, collected as ops' collect-status does: each part of the charm adds what it has to say,
 * and the most severe wins (blocked, then maintenance, waiting, active); among equals, the first added.
 */
export type StatusName = 'blocked' | 'maintenance' | 'waiting' | 'active';

export interface Status {
  name: StatusName;
  message: string;
}

const SEVERITY: Record<StatusName, number> = { blocked: 3, maintenance: 2, waiting: 1, active: 0 };

export function mostSevere(statuses: (Status | undefined)[]): Status | undefined {
  let worst: Status | undefined;
  for (const status of statuses)
    if (status && (!worst || SEVERITY[status.name] > SEVERITY[worst.name])) worst = status;
  return worst;
}
