import { ActionError, type Charm, type CharmContext, Machine } from '@regop/ops';
import { loadConfig, readState, reconcile } from './reconcile.js';

type Action = (ctx: CharmContext, machine: Machine) => Promise<void>;

/** Actions need a valid config (they act on the registry it describes). */
const withConfig =
  (
    run: (
      ctx: CharmContext,
      machine: Machine,
      config: NonNullable<Awaited<ReturnType<typeof loadConfig>>['config']>,
    ) => Promise<void>,
  ): Action =>
  async (ctx, machine) => {
    const { config, problems } = await loadConfig(ctx);
    if (!config)
      throw new ActionError(
        `the charm config is invalid (${problems.map((p) => p.option).join(', ')}): fix it first`,
      );
    await run(ctx, machine, config);
  };

// Actions load their modules when run: hooks, which run far more often, never pay for the registry engine.
const ACTIONS: Record<string, Action> = {
  push: withConfig(async (ctx, machine, config) => {
    const tlsOn = (await machine.read(config['tls-cert-path'])) !== undefined;
    if ((await readState(machine)).stopped)
      throw new ActionError(`${config['registry-name']} is stopped: run the start action first`);
    await (await import('./actions/push.js')).pushAction(ctx, machine, config, tlsOn);
  }),
  images: withConfig(async (ctx, machine) =>
    (await import('./actions/images.js')).imagesAction(ctx, machine),
  ),
  rmi: withConfig(async (...args) => (await import('./actions/rmi.js')).rmiAction(...args)),
  gc: withConfig(async (...args) => (await import('./actions/gc.js')).gcAction(...args)),
  start: withConfig(async (...args) => (await import('./actions/service.js')).startAction(...args)),
  stop: withConfig(async (...args) => (await import('./actions/service.js')).stopAction(...args)),
};

/**
 * On a real machine, what the actions need besides the agent: skopeo for push. When apt cannot install it the
 * unit logs why and push says so when run; the registry itself does not need it.
 */
async function installPackages(ctx: CharmContext): Promise<void> {
  const { execa } = await import('execa');
  if ((await execa('sh', ['-c', 'command -v skopeo'], { reject: false })).exitCode === 0) return;
  await ctx.backend.log('installing skopeo (apt), which the push action uses');
  const apt = await execa(
    'sh',
    ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq skopeo'],
    { reject: false, all: true },
  );
  if (apt.exitCode !== 0)
    await ctx.backend.log(
      `skopeo could not be installed, so push will fail until it is: ${(apt.all ?? '').trim().split('\n').at(-1)}`,
      'WARNING',
    );
}

/** The docker-registry charm: the reconcile for every hook, the actions by name. */
export function dockerRegistryCharm(machine: Machine = Machine.fromEnv()): Charm {
  return async (ctx) => {
    const { event } = ctx;
    if (event.kind === 'action') {
      const action = ACTIONS[event.name];
      if (!action) throw new ActionError(`unknown action ${event.name}`);
      await action(ctx, machine);
      return;
    }
    if (event.name === 'stop' || event.name === 'remove') {
      const { config } = await loadConfig(ctx);
      await machine.services.remove(config?.['registry-name'] ?? 'registry');
      return;
    }
    if (event.name === 'install' && !machine.isolated) await installPackages(ctx);
    await reconcile(ctx, machine);
  };
}
