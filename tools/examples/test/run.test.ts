/**
 * Every complete example runs on Node as it stands, as ESM (.mjs) and as CommonJS (.cjs), against
 * the built packages (dist, through their import/require conditions), and exits 0. Examples check
 * their own results and throw when something is wrong.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { extractInto, lib, runNode } from './support/extracted';

const { dir, manifest } = extractInto('run');

// block-punch-hole loads the addon built from the block README's C block (punch.c) from its working
// directory, and says so and does nothing without it: build it here when a C compiler and Node's
// headers are present, so the example punches a hole for real.
beforeAll(() => {
  const headers = join(dirname(process.execPath), '..', 'include', 'node');
  if (!existsSync(join(headers, 'node_api.h'))) return;
  const readme = readFileSync(join(lib.ROOT, 'packages/block/README.md'), 'utf8');
  const c = /```c\n([\s\S]*?)\n\s*```/.exec(readme)?.[1]?.replace(/^ {2}/gm, '');
  if (!c) return;
  writeFileSync(join(dir, 'punch.c'), c + '\n');
  try {
    execFileSync('gcc', ['-shared', '-fPIC', `-I${headers}`, join(dir, 'punch.c'), '-o', join(dir, 'punch.node')], { stdio: 'pipe' });
  } catch {
    // no compiler: the example runs its fallback path
  }
});

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
