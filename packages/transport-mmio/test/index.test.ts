import { describe, expect, it } from '@jest/globals';
import { PACKAGE } from '@vmv/transport-mmio';

describe('@vmv/transport-mmio', () => {
  it('loads by its public name', () => {
    expect(PACKAGE).toBe('@vmv/transport-mmio');
  });
});
