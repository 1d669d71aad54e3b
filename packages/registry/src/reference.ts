import { createHash, type Hash } from 'node:crypto';
import { RegistryError } from './errors.js';

// The OCI distribution spec's grammar for repository names and tags.
const NAME_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
export const MAX_NAME_LENGTH = 255;

export type DigestAlgorithm = 'sha256' | 'sha512';
const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const DIGEST = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/** A validated content digest. `toString()` gives the canonical `algorithm:hex` form. */
export class Digest {
  /** `algorithm:hex`, made once: digests key maps and sets, and the collector looks up thousands. */
  private readonly text: string;

  private constructor(
    readonly algorithm: DigestAlgorithm,
    readonly hex: string,
  ) {
    this.text = `${algorithm}:${hex}`;
  }

  static parse(value: string): Digest {
    const match = DIGEST.exec(value);
    if (!match)
      throw new RegistryError('DIGEST_INVALID', `invalid digest ${JSON.stringify(value.slice(0, 200))}`);
    const [, algorithm = '', hex = ''] = match;
    if (algorithm !== 'sha256' && algorithm !== 'sha512') {
      throw new RegistryError('DIGEST_INVALID', `unsupported digest algorithm ${JSON.stringify(algorithm)}`);
    }
    if (hex.length !== HEX_LENGTH[algorithm] || !/^[a-f0-9]+$/.test(hex)) {
      throw new RegistryError(
        'DIGEST_INVALID',
        `invalid ${algorithm} digest ${JSON.stringify(value.slice(0, 200))}`,
      );
    }
    return new Digest(algorithm, hex);
  }

  static of(algorithm: DigestAlgorithm, content: Uint8Array | string): Digest {
    return new Digest(algorithm, createHash(algorithm).update(content).digest('hex'));
  }

  static fromHash(algorithm: DigestAlgorithm, hash: Hash): Digest {
    return new Digest(algorithm, hash.digest('hex'));
  }

  equals(other: Digest): boolean {
    return this.algorithm === other.algorithm && this.hex === other.hex;
  }

  toString(): string {
    return this.text;
  }
}

export function isDigestLike(reference: string): boolean {
  return reference.includes(':');
}

/** Validates a repository name against the spec's grammar and distribution's length limit. */
export function parseName(name: string): string {
  if (name.length > MAX_NAME_LENGTH) {
    throw new RegistryError('NAME_INVALID', `repository name is longer than ${MAX_NAME_LENGTH} characters`, {
      length: name.length,
    });
  }
  if (!NAME.test(name)) {
    throw new RegistryError('NAME_INVALID', `invalid repository name ${JSON.stringify(name.slice(0, 300))}`);
  }
  return name;
}

export function parseTag(tag: string): string {
  if (!TAG.test(tag))
    throw new RegistryError('TAG_INVALID', `invalid tag ${JSON.stringify(tag.slice(0, 200))}`);
  return tag;
}

export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: Digest };

/** A manifest reference: a digest when it has a colon, otherwise a tag. */
export function parseReference(reference: string): Reference {
  return isDigestLike(reference)
    ? { kind: 'digest', digest: Digest.parse(reference) }
    : { kind: 'tag', tag: parseTag(reference) };
}
