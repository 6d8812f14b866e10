/**
 * Packaging conformance: each built @vmv package, loaded the way its users load it.
 * - an ESM consumer (`import`) and a CommonJS consumer (`require`) on this Node see the same names;
 * - paths the exports map does not list (internals, dist files) cannot be imported;
 * - core packages bundle for a browser with esbuild and evaluate in a context with no Node globals.
 */
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { build } from 'esbuild';

const NODE_ONLY = new Set(['@vmv/sys', '@vmv/vhost-user', '@vmv/vhost-user-blk']);
const root = join(__dirname, '..', '..', '..');
const here = join(__dirname, '..');

interface Pkg {
  name: string;
  dir: string;
  private?: boolean;
  sideEffects?: unknown;
  exports?: Record<string, unknown>;
}

const packages: Pkg[] = readdirSync(join(root, 'packages'))
  .map((d) => ({ ...JSON.parse(readFileSync(join(root, 'packages', d, 'package.json'), 'utf8')), dir: join(root, 'packages', d) }) as Pkg)
  .filter((p) => !p.private);

/** Public entry points: export keys that map to files (not null, not package.json, not patterns). */
function entries(p: Pkg): string[] {
  return Object.entries(p.exports ?? {})
    .filter(([k, v]) => v !== null && !k.includes('*') && k !== './package.json')
    .map(([k]) => p.name + k.slice(1));
}

function node(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: here, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe.each(packages.map((p) => [p.name, p] as const))('%s', (_name, p) => {
  it('declares sideEffects: false, an exports map that hides internals, and types', () => {
    expect(p.sideEffects).toBe(false);
    // Internals: the package's own tests reach them through the source condition; users never.
    expect(p.exports?.['./internal/*']).toEqual({ '@vmv/source': './src/*.ts', default: null });
    const dot = p.exports?.['.'] as Record<string, Record<string, string>>;
    expect(dot.import?.types).toMatch(/\.d\.ts$/);
    expect(dot.require?.types).toMatch(/\.d\.ts$/);
  });

  it.each(entries(p))('%s loads from ESM and CommonJS with the same exports', (spec) => {
    const esm = node(['--input-type=module', '-e', `import * as m from ${JSON.stringify(spec)}; console.log(JSON.stringify(Object.keys(m).filter(k => k !== 'default').sort()))`]);
    const cjs = node(['-e', `console.log(JSON.stringify(Object.keys(require(${JSON.stringify(spec)})).sort()))`]);
    const esmNames = JSON.parse(esm) as string[];
    expect(esmNames.length).toBeGreaterThan(0);
    expect(JSON.parse(cjs)).toEqual(esmNames);
  });

  it('refuses deep imports of internals and build files', () => {
    for (const deep of [`${p.name}/internal/x`, `${p.name}/dist/cjs/index.js`, `${p.name}/src/index.ts`]) {
      expect(() => node(['-e', `require(${JSON.stringify(deep)})`])).toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED|Package subpath/);
    }
  });

  if (!NODE_ONLY.has(p.name)) {
    it.each(entries(p).filter((s) => !s.includes('/node')))('%s bundles for a browser and loads without Node globals', async (spec) => {
      const out = await build({
        stdin: { contents: `export * from ${JSON.stringify(spec)};`, resolveDir: here, loader: 'js' },
        bundle: true,
        platform: 'browser',
        format: 'iife',
        globalName: 'lib',
        write: false,
        logLevel: 'silent',
      });
      const code = out.outputFiles[0]!.text;
      const sandbox: Record<string, unknown> = {};
      runInNewContext(`${code}\nthis.lib = lib;`, sandbox);
      expect(Object.keys(sandbox.lib as object).length).toBeGreaterThan(0);
    });
  }
});
