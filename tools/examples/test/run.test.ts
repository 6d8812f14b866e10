/**
 * Every complete example runs on Node as it stands, as ESM (.mjs) and as CommonJS (.cjs), against
 * the built packages (dist, through their import/require conditions), and exits 0. Examples check
 * their own results and throw when something is wrong.
 */
import { describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { extractInto, runNode } from './support/extracted';

const { dir, manifest } = extractInto('run');

describe.each(manifest.map((e) => [e.id, e] as const))('%s', (_id, entry) => {
  for (const form of ['esm', 'cjs'] as const) {
    it(`runs as ${form === 'esm' ? 'ESM' : 'CommonJS'} and exits 0`, async () => {
      const r = await runNode(join(dir, entry[form]), dir);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    });
  }
});

it('extracted something', () => {
  expect(manifest.length).toBeGreaterThan(10);
});
