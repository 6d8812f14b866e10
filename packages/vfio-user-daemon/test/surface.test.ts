/**
 * The package surface: every export of every entry point, with the public members of its classes
 * and interfaces, against a golden (test/__snapshots__). A change to it is a change for users:
 * update the golden with `jest -u` and say what changed in a changeset.
 */
import { expect, it } from '@jest/globals';
import { join } from 'node:path';
import { apiSurface } from '../../../tools/scripts/api-surface.cjs';

it('exports exactly the golden surface', () => {
  expect(apiSurface(join(__dirname, '..'))).toMatchSnapshot();
}, 120_000); // type-checks the package: seconds, more on a busy machine; the bound is for a hang
