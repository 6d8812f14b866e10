import { describe, expect, it } from '@jest/globals';
import { PACKAGE } from '@vmv/sys';

describe('@vmv/sys', () => {
  it('loads by its public name', () => {
    expect(PACKAGE).toBe('@vmv/sys');
  });
});
