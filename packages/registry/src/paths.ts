/**
 * distribution's storage layout, byte for byte (registry/storage/paths.go), so that registry:2 and this
 * registry can serve one storage root. Only this module knows where things live.
 */
import type { Digest } from './reference.js';

export const ROOT = '/docker/registry/v2';
export const REPOSITORIES = `${ROOT}/repositories`;

const digestDir = (d: Digest) => `${d.algorithm}/${d.hex}`;
const repo = (name: string) => `${REPOSITORIES}/${name}`;

export const paths = {
  blobsRoot: `${ROOT}/blobs`,
  blobData: (d: Digest) => `${ROOT}/blobs/${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}/data`,
  repository: repo,
  layerLink: (name: string, d: Digest) => `${repo(name)}/_layers/${digestDir(d)}/link`,
  layerDir: (name: string, d: Digest) => `${repo(name)}/_layers/${digestDir(d)}`,
  revisionsDir: (name: string) => `${repo(name)}/_manifests/revisions`,
  revisionDir: (name: string, d: Digest) => `${repo(name)}/_manifests/revisions/${digestDir(d)}`,
  revisionLink: (name: string, d: Digest) => `${repo(name)}/_manifests/revisions/${digestDir(d)}/link`,
  tagsDir: (name: string) => `${repo(name)}/_manifests/tags`,
  tagDir: (name: string, tag: string) => `${repo(name)}/_manifests/tags/${tag}`,
  tagCurrentLink: (name: string, tag: string) => `${repo(name)}/_manifests/tags/${tag}/current/link`,
  /** The tag whose current link `path` is (a listing's key), undefined for any other path. */
  tagOfCurrentLink: (name: string, path: string): string | undefined => {
    const prefix = `${repo(name)}/_manifests/tags/`;
    const suffix = '/current/link';
    if (!path.startsWith(prefix) || !path.endsWith(suffix)) return undefined;
    const tag = path.slice(prefix.length, -suffix.length);
    return tag.includes('/') ? undefined : tag;
  },
  tagIndexLink: (name: string, tag: string, d: Digest) =>
    `${repo(name)}/_manifests/tags/${tag}/index/${digestDir(d)}/link`,
  uploadsDir: (name: string) => `${repo(name)}/_uploads`,
  uploadDir: (name: string, id: string) => `${repo(name)}/_uploads/${id}`,
  uploadData: (name: string, id: string) => `${repo(name)}/_uploads/${id}/data`,
  uploadStartedAt: (name: string, id: string) => `${repo(name)}/_uploads/${id}/startedat`,
  /**
   * Garbage collection's own (not in distribution): one directory per run's quarantine, and the lease. A
   * quarantined blob's data is a file named by its digest, not a directory of its own: the quarantine is
   * made and deleted without a directory per blob.
   */
  gcRoot: `${ROOT}/_gc`,
  gcRun: (run: string) => `${ROOT}/_gc/${run}`,
  gcQuarantine: (run: string, d: Digest) => `${ROOT}/_gc/${run}/${digestDir(d)}`,
  gcLease: `${ROOT}/_gc_lease`,
  /**
   * Referrers index (not in distribution 2.8, which has no referrers API): one link per referrer under its
   * subject. The leading underscore keeps it out of distribution's catalog walk.
   */
  referrersDir: (name: string, subject: Digest) => `${repo(name)}/_referrers/${digestDir(subject)}`,
  referrerLink: (name: string, subject: Digest, referrer: Digest) =>
    `${repo(name)}/_referrers/${digestDir(subject)}/${digestDir(referrer)}/link`,
  /** The digest (`algorithm:hex`) a referrer's directory, listed below its algorithm's, is named for. */
  referrerOfDir: (dir: string): string => {
    const hex = dir.lastIndexOf('/');
    const algorithm = dir.lastIndexOf('/', hex - 1);
    return `${dir.slice(algorithm + 1, hex)}:${dir.slice(hex + 1)}`;
  },
};
