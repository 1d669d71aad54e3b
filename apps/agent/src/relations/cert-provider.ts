/**
 * The `cert-provider` relation (interface tls-certificates) to a CA such as easyrsa or vault. The unit asks
 * for a server certificate (common name: its address; SANs: its private and public addresses, host name,
 * http-host's host and the proxy's address) and reads back the CA and its certificate and key, published under its unit name
 * (`<unit>.server.cert`/`.server.key`, or in `<unit>.processed_requests`).
 */
import type { Backend } from '@regop/ops';
import type { TlsFiles } from '../tls.js';
import { checkTlsPems } from '../tls.js';
import type { RelationModule } from './relation.js';
import type { RemoteUnit } from './remote.js';

export const CERT_PROVIDER = 'cert-provider';

export interface CertificateRequest {
  commonName: string;
  sans: string[];
}

/** What the provider gave: nothing related, still waiting, a checked certificate, or bad data and why. */
export type ProvidedCertificate =
  | { state: 'none' }
  | { state: 'waiting'; reason: string }
  | { state: 'ready'; files: TlsFiles & { ca: string }; from: string }
  | { state: 'invalid'; reason: string };

const parseJson = (text: string | undefined): unknown => {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return Symbol.for('invalid');
  }
};

/** Sends the request on every cert-provider relation (again on every hook: the SANs may have changed). */
export async function requestCertificate(
  backend: Backend,
  unitName: string,
  request: CertificateRequest,
): Promise<void> {
  const name = unitName.replace('/', '_');
  for (const id of await backend.relationIds(CERT_PROVIDER))
    await backend.relationSet(id, {
      unit_name: name,
      common_name: request.commonName,
      sans: JSON.stringify(request.sans),
      certificate_name: name,
    });
}

/** Reads and checks what the providers gave for this unit's request (its common name: its address). */
export function readCertificate(
  providers: RemoteUnit[],
  unitName: string,
  commonName: string,
  now = new Date(),
): ProvidedCertificate {
  const name = unitName.replace('/', '_');
  if (providers.length === 0) return { state: 'none' };
  // easyrsa publishes the CA from its leader only, while any of its units may answer the request.
  const anyCa = providers.map((p) => p.data.ca).find(Boolean);
  for (const { unit, data } of providers) {
    let cert = data[`${name}.server.cert`];
    let key = data[`${name}.server.key`];
    const processed = parseJson(data[`${name}.processed_requests`]);
    if (typeof processed === 'symbol')
      return { state: 'invalid', reason: `${name}.processed_requests from ${unit} is not JSON` };
    const batch = (processed as Record<string, { cert?: string; key?: string }> | undefined)?.[commonName];
    if (!cert && batch) ({ cert, key } = batch);
    const ca = data.ca || anyCa;
    if (!cert || !key || !ca) continue;
    const problems = checkTlsPems({ cert, key, ca }, now);
    if (problems.length > 0) {
      const [first] = problems;
      const what = { cert: 'the certificate', key: 'the key', ca: 'the CA' }[first?.part ?? 'cert'];
      return { state: 'invalid', reason: `${what} from ${unit} ${first?.reason}` };
    }
    return { state: 'ready', files: { cert, key, ca }, from: unit };
  }
  return { state: 'waiting', reason: `waiting for a certificate from ${providers[0]?.unit.split('/')[0]}` };
}

/**
 * A certificate for the unit's address, with its public address, host name, http-host's host and the proxies'
 * addresses as SANs. Bad data blocks the unit (the registry keeps its last good files); waiting for one matters
 * only when the TLS blobs do not already give the unit its certificate.
 */
export const certProvider: RelationModule<ProvidedCertificate> = {
  endpoint: CERT_PROVIDER,
  gather: (remotes, facts) => readCertificate(remotes, facts.unitName, facts.address),
  async publish(_state, { facts, relations }, _served, { backend }) {
    const sans = [facts.address, facts.publicAddress, facts.hostName, ...relations.website.proxies];
    if (facts.config['http-host']) sans.push(new URL(facts.config['http-host']).hostname);
    await requestCertificate(backend, facts.unitName, {
      commonName: facts.address,
      sans: [...new Set(sans)].sort(),
    });
  },
  status(state, unit) {
    if (state.state === 'invalid') return { name: 'blocked', message: `cert-provider: ${state.reason}` };
    if (state.state === 'waiting' && !unit.blobTls)
      return { name: 'waiting', message: `cert-provider: ${state.reason}` };
    return undefined;
  },
};
