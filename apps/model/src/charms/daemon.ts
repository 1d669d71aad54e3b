/**
 * For the model's peer charms that run a daemon: whether it answers on its port, and a reload that cannot
 * kill it. nrpe and haproxy die of a reload signal (SIGHUP, SIGUSR2) that arrives before they install their
 * handlers (measured for nrpe: a SIGHUP 0 ms after start killed it 10 of 10 times, at 2 ms 6 of 10); once
 * they listen, the handlers are in place.
 */
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Machine } from '@regop/ops';

/** A real TCP connect to host:port, given up after `ms`. */
export const listening = (host: string, port: number, ms = 1000) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host, port, timeout: ms });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });

/** Waits until host:port answers, for at most `ms`. */
export async function untilListening(host: string, port: number, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  do {
    if (await listening(host, port, 250)) return true;
    await sleep(50);
  } while (Date.now() < deadline);
  return false;
}

/**
 * Starts the service, restarts it after a change of definition, or makes it re-read its configuration:
 * by its reload signal only when it is listening, else by a restart. Then waits for it to answer.
 */
export async function ensureServing(
  machine: Machine,
  name: string,
  at: { host: string; port: number },
  change: { installed: boolean; changed: boolean },
): Promise<boolean> {
  const running = await machine.services.running(name);
  if (change.installed || !running) await machine.services.restart(name);
  else if (change.changed) {
    if (await listening(at.host, at.port)) await machine.services.reload(name);
    else await machine.services.restart(name);
  }
  return untilListening(at.host, at.port);
}
