import { describe, expect, it } from 'vitest';
import { parseS3Options } from './options.js';

describe('s3 driver options', () => {
  it('names the key that is wrong', () => {
    expect(() => parseS3Options({ region: 'r', bucket: 'b', chunksize: '1024' })).toThrow(
      /storage\.s3\.chunksize: must be at least 5 MiB/,
    );
    expect(() => parseS3Options({ bucket: 'b' })).toThrow(/storage\.s3\.region/);
    expect(parseS3Options({ region: 'r', bucket: 'b', secure: 'false', chunksize: '6291456' })).toMatchObject(
      { secure: false, chunksize: 6291456 },
    );
  });
});
