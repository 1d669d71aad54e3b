import { describe, expect, it } from 'vitest';
import { authVersion, parseSwiftOptions } from './options.js';

const base = { authurl: 'http://127.0.0.1:8080/auth/v1.0', username: 'u', password: 'p', container: 'c' };

describe('swift driver options', () => {
  it("takes distribution's keys and defaults, from YAML or environment strings", () => {
    expect(parseSwiftOptions(base)).toMatchObject({
      chunksize: 20 * 1024 * 1024,
      prefix: '',
      endpointtype: 'public',
    });
    expect(
      parseSwiftOptions({
        ...base,
        chunksize: '1048576',
        insecureskipverify: 'true',
        tempurlmethods: 'GET, HEAD',
      }),
    ).toMatchObject({ chunksize: 1048576, insecureskipverify: true, tempurlmethods: ['GET', 'HEAD'] });
  });

  it('names each key that is wrong', () => {
    expect(() => parseSwiftOptions({ ...base, chunksize: 1000 })).toThrow(
      /storage\.swift\.chunksize: must be at least 1 MiB/,
    );
    expect(() => parseSwiftOptions({ authurl: 'not a url' })).toThrow(
      /storage\.swift\.authurl: .*\n.*storage\.swift\.username: .*\n.*storage\.swift\.password/,
    );
  });

  it('guesses the auth protocol from the URL unless authversion says', () => {
    expect(authVersion(parseSwiftOptions(base))).toBe(1);
    expect(authVersion(parseSwiftOptions({ ...base, authurl: 'https://keystone:5000/v3' }))).toBe(3);
    expect(authVersion(parseSwiftOptions({ ...base, authurl: 'https://keystone:5000/v2.0/' }))).toBe(2);
    expect(
      authVersion(parseSwiftOptions({ ...base, authurl: 'https://keystone:5000/', authversion: '3' })),
    ).toBe(3);
  });
});
