import type { Backend } from './backend.js';
import { HookToolsBackend } from './hook-tools.js';

/** What Juju dispatched: a hook (with its relation, for relation hooks) or an action. */
export type JujuEvent =
  | {
      kind: 'hook';
      name: string;
      relation?: { endpoint: string; id: string; remoteUnit?: string; remoteApp?: string };
    }
  | { kind: 'action'; name: string };

export interface CharmContext {
  event: JujuEvent;
  backend: Backend;
  unitName: string;
  appName: string;
  charmDir: string;
}

/** A charm is one function of the event: the framework adds no state of its own. */
export type Charm = (ctx: CharmContext) => Promise<void>;

/** An action failed for a reason the operator can act on: reported with action-fail, not as a crash. */
export class ActionError extends Error {
  override name = 'ActionError';
}

const RELATION_HOOK = /^(.+)-relation-(created|joined|changed|departed|broken)$/;

/** Reads the event from JUJU_DISPATCH_PATH (`hooks/<name>` or `actions/<name>`) and the JUJU_* variables. */
export function eventFromEnv(env: NodeJS.ProcessEnv): JujuEvent {
  const path = env.JUJU_DISPATCH_PATH ?? '';
  const [kind, name] = path.split('/', 2);
  if (!name || (kind !== 'hooks' && kind !== 'actions'))
    throw new Error(`unknown dispatch path: ${JSON.stringify(path)}`);
  if (kind === 'actions') return { kind: 'action', name };
  const relation = RELATION_HOOK.exec(name);
  if (!relation) return { kind: 'hook', name };
  return {
    kind: 'hook',
    name,
    relation: {
      endpoint: relation[1] as string,
      id: env.JUJU_RELATION_ID ?? '',
      ...(env.JUJU_REMOTE_UNIT && { remoteUnit: env.JUJU_REMOTE_UNIT }),
      ...(env.JUJU_REMOTE_APP && { remoteApp: env.JUJU_REMOTE_APP }),
    },
  };
}

/**
 * Runs a charm for the event in the environment. An ActionError fails the action (exit 0, as Juju expects);
 * anything else is logged and exits 1, which puts the unit in error for a hook.
 */
export async function dispatch(
  charm: Charm,
  env: NodeJS.ProcessEnv = process.env,
  backend: Backend = new HookToolsBackend(),
): Promise<number> {
  const event = eventFromEnv(env);
  const unitName = env.JUJU_UNIT_NAME ?? '';
  const ctx: CharmContext = {
    event,
    backend,
    unitName,
    appName: unitName.split('/')[0] ?? '',
    charmDir: env.JUJU_CHARM_DIR ?? process.cwd(),
  };
  try {
    await charm(ctx);
    return 0;
  } catch (err) {
    if (event.kind === 'action' && err instanceof ActionError) {
      await backend.actionFail(err.message);
      return 0;
    }
    await backend
      .log(`${event.kind} ${event.name} failed: ${(err as Error).stack ?? err}`, 'ERROR')
      .catch(() => {});
    if (event.kind === 'action') await backend.actionFail((err as Error).message).catch(() => {});
    return 1;
  }
}
