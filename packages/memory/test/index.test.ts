import { describe, expect, it } from '@jest/globals';
import { VERSION } from '@vmv/memory';

describe('@vmv/memory', () => {
  it('loads by its public name', () => {
    expect(VERSION).toBe('0.0.0');
  });
});
