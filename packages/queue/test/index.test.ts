import { describe, expect, it } from '@jest/globals';
import { PACKAGE } from '@vmv/queue';

describe('@vmv/queue', () => {
  it('loads by its public name', () => {
    expect(PACKAGE).toBe('@vmv/queue');
  });
});
