import type { Backend } from '@regop/ops';

/** A remote unit in one of an endpoint's relations, with the settings it published. */
export interface RemoteUnit {
  relationId: string;
  unit: string;
  data: Record<string, string>;
}

/**
 * Every unit on the other side of an endpoint's relations (none once they have departed). Asked all at once:
 * each hook tool is a process of its own.
 */
export async function remoteUnits(backend: Backend, endpoint: string): Promise<RemoteUnit[]> {
  const ids = await backend.relationIds(endpoint);
  const lists = await Promise.all(ids.map(async (id) => ({ id, units: await backend.relationList(id) })));
  return Promise.all(
    lists.flatMap(({ id, units }) =>
      units.map(async (unit) => ({ relationId: id, unit, data: await backend.relationGet(id, unit) })),
    ),
  );
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
