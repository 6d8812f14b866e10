import { describe, expect, it } from '@jest/globals';
import { PACKAGE } from '@vmv/vhost-user';

describe('@vmv/vhost-user', () => {
  it('loads by its public name', () => {
    expect(PACKAGE).toBe('@vmv/vhost-user');
  });
});
