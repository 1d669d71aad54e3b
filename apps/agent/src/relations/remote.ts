import type { Backend } from '@regop/ops';

/** A remote unit in one of an endpoint's relations, with the settings it published. */
export interface RemoteUnit {
  relationId: string;
  unit: string;
  data: Record<string, string>;
}

/** Every unit on the other side of an endpoint's relations (none once they have departed). */
export async function remoteUnits(backend: Backend, endpoint: string): Promise<RemoteUnit[]> {
  const units: RemoteUnit[] = [];
  for (const relationId of await backend.relationIds(endpoint))
    for (const unit of await backend.relationList(relationId))
      units.push({ relationId, unit, data: await backend.relationGet(relationId, unit) });
  return units;
}

/** The address a unit is reached at, as Juju publishes it in every unit's settings. */
export const addressOf = (data: Record<string, string>): string | undefined =>
  data['ingress-address'] || data['private-address'] || data.hostname || undefined;

/** Units in numeric order of their number (unit 10 after unit 2), application name first. */
export const byUnitNumber = (a: string, b: string): number => {
  const [appA = '', nA = '0'] = a.split('/');
  const [appB = '', nB = '0'] = b.split('/');
  return appA === appB ? Number(nA) - Number(nB) : appA < appB ? -1 : 1;
};
