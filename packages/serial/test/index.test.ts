import { describe, expect, it } from '@jest/globals';
import { PACKAGE } from '@vmv/serial';

describe('@vmv/serial', () => {
  it('loads by its public name', () => {
    expect(PACKAGE).toBe('@vmv/serial');
  });
});
