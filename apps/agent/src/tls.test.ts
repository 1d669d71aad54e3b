import { createCertificateAuthority, issueCertificate } from '@regop/auth';
import { describe, expect, it } from 'vitest';
import { charmConfig } from './test-support.js';
import { checkTlsBlobs } from './tls.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const ca = createCertificateAuthority({ commonName: 'CA' });
const server = issueCertificate(ca, { commonName: 'registry', altNames: ['10.0.0.5'] });
const check = (blobs: Record<string, string>) => checkTlsBlobs(charmConfig(blobs));

describe('tls-*-blob checks', () => {
  it('accepts a certificate, its key and its CA, as PEM in base64', () => {
    const { files, problems } = check({
      'tls-cert-blob': b64(server.certPem),
      'tls-key-blob': b64(server.keyPem),
      'tls-ca-blob': b64(ca.certPem),
    });
    expect(problems).toEqual([]);
    expect(files?.cert).toBe(server.certPem);
    expect(check({}).files).toBeUndefined();
  });

  it('names the option for each bad blob', () => {
    const options = (blobs: Record<string, string>) =>
      check(blobs).problems.map((p) => `${p.option}: ${p.reason}`);
    const key = b64(server.keyPem);
    expect(options({ 'tls-cert-blob': '%%%', 'tls-key-blob': key })).toEqual([
      'tls-cert-blob: is not base64',
    ]);
    expect(options({ 'tls-cert-blob': b64('hello'), 'tls-key-blob': key })).toEqual([
      'tls-cert-blob: is base64 but not PEM',
    ]);
    expect(options({ 'tls-cert-blob': b64(server.certPem) })).toEqual([
      'tls-key-blob: is required with tls-cert-blob',
    ]);
    const other = issueCertificate(ca, { commonName: 'other' });
    expect(options({ 'tls-cert-blob': b64(server.certPem), 'tls-key-blob': b64(other.keyPem) })).toEqual([
      'tls-key-blob: does not match the certificate in tls-cert-blob',
    ]);
    const expired = issueCertificate(ca, {
      commonName: 'old',
      notBefore: new Date(Date.now() - 5 * 86_400_000),
      days: 1,
    });
    expect(
      options({ 'tls-cert-blob': b64(expired.certPem), 'tls-key-blob': b64(expired.keyPem) })[0],
    ).toMatch(/^tls-cert-blob: certificate expired on /);
    const foreign = createCertificateAuthority({ commonName: 'Foreign' });
    expect(
      options({
        'tls-cert-blob': b64(server.certPem),
        'tls-key-blob': key,
        'tls-ca-blob': b64(foreign.certPem),
      }),
    ).toEqual(['tls-ca-blob: did not issue the certificate in tls-cert-blob']);
  });
});
