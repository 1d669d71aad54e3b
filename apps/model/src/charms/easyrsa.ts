#!/usr/bin/env node
// The PKI alone: the package's index also loads htpasswd's native bcrypt, which this charm has no need of.
import { createCertificateAuthority, issueCertificate, type KeyPair } from '@regop/auth/pki';
/**
 * The model's easyrsa charm: a certificate authority (node-forge) answering tls-certificates requests on its
 * `client` endpoint, as layer-easyrsa does: the leader alone holds the CA (in leader data) and answers. For each
 * requesting unit it publishes `ca` and `<unit>.server.cert`/`.server.key` (the unit's Juju name, `/` made
 * `_`) for the single request (common_name, sans, certificate_name), and `<unit>.processed_requests` for
 * batched `cert_requests`. A certificate is issued again only when its common name or SANs change.
 */
import { type CharmContext, dispatch, Machine } from '@regop/ops';

const ISSUED = '/var/lib/easyrsa/issued.json';

interface Issued {
  /** `cn|sorted sans`, to know when a request changed. */
  subject: string;
  cert: string;
  key: string;
}

const list = (text: string | undefined): string[] => {
  try {
    const value = JSON.parse(text ?? '[]') as unknown;
    return Array.isArray(value) ? value.map(String) : [];
  } catch {
    return [];
  }
};

async function easyrsa(ctx: CharmContext, machine: Machine) {
  const { backend } = ctx;
  // As layer-easyrsa: the CA lives in leader data, and only the leader signs and publishes `ca`.
  if (!(await backend.isLeader())) {
    await backend.statusSet('active', 'Certificate Authority served by the leader.');
    return;
  }
  let ca = JSON.parse((await backend.leaderGet()).ca ?? 'null') as KeyPair | null;
  if (!ca) {
    ca = createCertificateAuthority({ commonName: `easyrsa ${ctx.appName}`, days: 3650 });
    await backend.leaderSet({ ca: JSON.stringify(ca) });
  }
  const issued = JSON.parse((await machine.read(ISSUED)) ?? '{}') as Record<string, Issued>;
  const issue = (key: string, cn: string, sans: string[]): Issued => {
    const subject = `${cn}|${[...new Set(sans)].sort().join(',')}`;
    const known = issued[key];
    if (known?.subject === subject) return known;
    const pair = issueCertificate(ca as KeyPair, { commonName: cn, altNames: [...new Set([cn, ...sans])] });
    issued[key] = { subject, cert: pair.certPem, key: pair.keyPem };
    return issued[key];
  };
  let count = 0;
  for (const id of await backend.relationIds('client')) {
    const publish: Record<string, string | null> = { ca: ca.certPem };
    for (const unit of await backend.relationList(id)) {
      const data = await backend.relationGet(id, unit);
      // The answer is keyed by the requesting unit's Juju name, whatever `unit_name` it sent.
      const name = unit.replace('/', '_');
      if (data.common_name) {
        const cert = issue(`${id}/${name}`, data.common_name, list(data.sans));
        publish[`${name}.server.cert`] = cert.cert;
        publish[`${name}.server.key`] = cert.key;
        count++;
      }
      const batch = JSON.parse(data.cert_requests || '{}') as Record<string, { sans?: string[] }>;
      const processed: Record<string, { cert: string; key: string }> = {};
      for (const [cn, request] of Object.entries(batch)) {
        const cert = issue(`${id}/${name}/${cn}`, cn, request.sans ?? []);
        processed[cn] = { cert: cert.cert, key: cert.key };
        count++;
      }
      if (Object.keys(processed).length) publish[`${name}.processed_requests`] = JSON.stringify(processed);
    }
    await backend.relationSet(id, publish);
  }
  await machine.write(ISSUED, JSON.stringify(issued), 0o600);
  await backend.statusSet('active', `Certificate Authority ready (${count} certificates issued).`);
}

const machine = Machine.fromEnv(process.env, 'easyrsa');
process.exitCode = await dispatch((ctx) => easyrsa(ctx, machine));
