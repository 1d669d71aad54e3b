/** Object names as distribution's swift driver makes them. */

export const trimSlashes = (s: string) => s.replace(/^\/+|\/+$/g, '');

/** The n-th segment (from 1) of a large object. */
export const segmentName = (prefix: string, n: number) => `${prefix}/${String(n).padStart(16, '0')}`;

/** The segments' prefix in a manifest's `container/prefix` value (the container is always ours). */
export const manifestPrefix = (manifest: string) => manifest.slice(manifest.indexOf('/') + 1);
