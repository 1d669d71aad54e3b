import { describe, expect, it } from 'vitest';
import { growingPercent } from './heap.js';

const MB = 1024 * 1024;

describe('the old generation room left for upload buffers', () => {
  it('is 48 MB past what is live, within V8 own factors (1.1x to 4x)', () => {
    expect(growingPercent(13 * MB)).toBe(300);
    expect(growingPercent(48 * MB)).toBe(100);
    expect(growingPercent(96 * MB)).toBe(50);
    expect(growingPercent(1024 * MB)).toBe(10);
    expect(growingPercent(0)).toBe(300);
  });
});
