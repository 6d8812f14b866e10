import { describe, expect, it } from '@jest/globals';
import { PACKAGE } from '@vmv/device-trait';

describe('@vmv/device-trait', () => {
  it('loads by its public name', () => {
    expect(PACKAGE).toBe('@vmv/device-trait');
  });
});
