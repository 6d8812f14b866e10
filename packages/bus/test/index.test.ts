import { describe, expect, it } from '@jest/globals';
import { PACKAGE } from '@vmv/bus';

describe('@vmv/bus', () => {
  it('loads by its public name', () => {
    expect(PACKAGE).toBe('@vmv/bus');
  });
});
