/** What a stored manifest points at. Lenient: it reads what distribution may have stored, schema1 included. */
export interface ManifestReferences {
  blobs: string[];
  children: string[];
  subject?: string;
}

type Json = Record<string, unknown>;
const digestOf = (value: unknown): string | undefined => {
  const digest = (value as Json | undefined)?.digest;
  return typeof digest === 'string' ? digest : undefined;
};
const digests = (list: unknown, key = 'digest'): string[] =>
  Array.isArray(list)
    ? list.map((d) => (d as Json)?.[key]).filter((d): d is string => typeof d === 'string')
    : [];

export function manifestReferences(content: Buffer): ManifestReferences {
  const json = JSON.parse(content.toString('utf8')) as Json;
  const config = digestOf(json.config);
  const subject = digestOf(json.subject);
  return {
    blobs: [...(config ? [config] : []), ...digests(json.layers), ...digests(json.fsLayers, 'blobSum')],
    children: digests(json.manifests),
    ...(subject && { subject }),
  };
}
