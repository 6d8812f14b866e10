import { describe, expect, it } from '@jest/globals';
import { PACKAGE } from '@vmv/block';

describe('@vmv/block', () => {
  it('loads by its public name', () => {
    expect(PACKAGE).toBe('@vmv/block');
  });
});
