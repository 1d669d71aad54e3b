/** A host as a browser may send it in Host: a name or an address, with a port. Anything else is not shown. */
const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

export const validHost = (host: string | undefined): host is string => host !== undefined && HOST.test(host);

export interface PullCommand {
  client: string;
  command: string;
}

/**
 * The commands that pull `name` at `reference` (a tag, or a digest) from `host`. Over plain HTTP each says so
 * (the clients refuse an unencrypted registry otherwise). Names and tags are the spec's grammar, which has no
 * character a shell treats specially, so the commands need no quoting.
 */
export function pullCommands(
  host: string,
  name: string,
  reference: string,
  insecure: boolean,
): PullCommand[] {
  const image = `${host}/${name}${reference.includes(':') ? `@${reference}` : `:${reference}`}`;
  const base = name.slice(name.lastIndexOf('/') + 1);
  const layout = reference.includes(':') ? base : `${base}:${reference}`;
  return [
    { client: 'docker', command: `docker pull ${image}` },
    { client: 'podman', command: `podman pull ${insecure ? '--tls-verify=false ' : ''}${image}` },
    {
      client: 'skopeo',
      command: `skopeo copy ${insecure ? '--src-tls-verify=false ' : ''}docker://${image} oci:${layout}`,
    },
    { client: 'nerdctl', command: `nerdctl pull ${insecure ? '--insecure-registry ' : ''}${image}` },
  ];
}
