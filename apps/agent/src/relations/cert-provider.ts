/**
 * The `cert-provider` relation (interface tls-certificates) to a CA such as easyrsa or vault. The unit asks
 * for a server certificate (common name: its address; SANs: its private and public addresses, host name,
 * http-host's host and the proxy's address) and reads back the CA and its certificate and key, published under its unit name
 * (`<unit>.server.cert`/`.server.key`, or in `<unit>.processed_requests`).
 */
import type { Backend } from '@regop/ops';
import type { TlsFiles } from '../tls.js';
import { checkTlsPems } from '../tls.js';
import { remoteUnits } from './remote.js';

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

/** Sends the request on every cert-provider relation, then reads and checks what came back. */
export async function exchangeCertificate(
  backend: Backend,
  unitName: string,
  request: CertificateRequest,
  now = new Date(),
): Promise<ProvidedCertificate> {
  const ids = await backend.relationIds(CERT_PROVIDER);
  const name = unitName.replace('/', '_');
  for (const id of ids)
    await backend.relationSet(id, {
      unit_name: name,
      common_name: request.commonName,
      sans: JSON.stringify(request.sans),
      certificate_name: name,
    });
  const providers = await remoteUnits(backend, CERT_PROVIDER);
  if (providers.length === 0) return { state: 'none' };
  // easyrsa publishes the CA from its leader only, while any of its units may answer the request.
  const anyCa = providers.map((p) => p.data.ca).find(Boolean);
  for (const { unit, data } of providers) {
    let cert = data[`${name}.server.cert`];
    let key = data[`${name}.server.key`];
    const processed = parseJson(data[`${name}.processed_requests`]);
    if (typeof processed === 'symbol')
      return { state: 'invalid', reason: `${name}.processed_requests from ${unit} is not JSON` };
    const batch = (processed as Record<string, { cert?: string; key?: string }> | undefined)?.[
      request.commonName
    ];
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
