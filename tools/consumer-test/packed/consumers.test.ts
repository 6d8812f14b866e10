/**
 * What a consumer sees, on the released packages installed with npm from the local registry into
 * one blank project (all of them, with @types/node):
 * - the package.json: sideEffects false, internals mapped to null, types for import and require;
 * - paths the exports map does not list (internals, dist files, sources) cannot be imported, even
 *   with the repository's "@vmv/source" condition turned on;
 * - core packages bundle for a browser with esbuild, evaluate with no Node globals, and tree-shake
 *   (one import bundles much less than the whole package);
 * - every entry point type-checks with TypeScript (the repository's, 5.9) under node10, node16
 *   (ESM and CommonJS files) and bundler resolution, core packages with no Node types at all;
 * - @arethetypeswrong/cli finds no problem in any tarball.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runInNewContext } from 'node:vm';
import { build } from 'esbuild';
import type { State } from './support';
import { blankProject, entries, NODE_ONLY, ROOT, runNode, state, tarballManifest } from './support';

const exec = promisify(execFile);
const NAMES = readdirSync(join(ROOT, 'packages'))
  .map((d) => JSON.parse(readFileSync(join(ROOT, 'packages', d, 'package.json'), 'utf8')) as { name: string; private?: boolean })
  .filter((p) => !p.private)
  .map((p) => p.name);

let s: State;
let dir: string;
const manifests = new Map<string, Record<string, unknown>>();

beforeAll(() => {
  s = state();
  for (const p of s.packed) manifests.set(p.name, tarballManifest(p.file));
  dir = blankProject(s, 'all-npm', 'npm', [...s.packed.map((p) => `${p.name}@${p.version}`), '@types/node']).dir;
});

describe.each(NAMES)('%s', (name) => {
  it('installs a package.json with sideEffects: false, internals mapped to null, and types for import and require', () => {
    const pkg = JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')) as { sideEffects?: unknown; exports: Record<string, unknown> };
    expect(pkg.sideEffects).toBe(false);
    expect(pkg.exports['./internal/*']).toBeNull();
    const dot = pkg.exports['.'] as Record<string, Record<string, string>>;
    expect(dot.import?.types).toMatch(/\.d\.ts$/);
    expect(dot.require?.types).toMatch(/\.d\.ts$/);
  });

  it('refuses deep imports of internals, build files and sources, with the source condition too', async () => {
    for (const deep of [`${name}/internal/x`, `${name}/dist/cjs/index.js`, `${name}/src/index.ts`]) {
      for (const args of [['-e', `require(${JSON.stringify(deep)})`], ['--conditions=@vmv/source', '--input-type=module', '-e', `await import(${JSON.stringify(deep)})`]]) {
        const r = await runNode(args, dir);
        expect({ deep, code: r.code, refused: /ERR_PACKAGE_PATH_NOT_EXPORTED/.test(r.stderr) }).toEqual({ deep, code: 1, refused: true });
      }
    }
  });

  if (!NODE_ONLY.has(name)) {
    it('bundles each entry point for a browser, loads it without Node globals, and tree-shakes', async () => {
      for (const spec of entries(manifests.get(name)!).filter((e) => !e.endsWith('/node'))) {
        const bundle = async (contents: string, format: 'iife' | 'esm'): Promise<string> => {
          const out = await build({ stdin: { contents, resolveDir: dir, loader: 'js' }, bundle: true, platform: 'browser', format, globalName: 'lib', minify: true, write: false, logLevel: 'silent' });
          return out.outputFiles[0]!.text;
        };
        const whole = await bundle(`export * from ${JSON.stringify(spec)};`, 'iife');
        const sandbox: Record<string, unknown> = {};
        runInNewContext(`${whole}\nthis.lib = lib;`, sandbox);
        const exported = Object.keys(sandbox.lib as object);
        expect(exported.length).toBeGreaterThan(0);
        // The package's error guard alone, used: the rest of the package should fall away.
        const guard = exported.find((k) => /^is[A-Z]\w*Error$/.test(k));
        if (!guard || whole.length < 8192) continue;
        const shaken = await bundle(`import { ${guard} } from ${JSON.stringify(spec)}; console.log(${guard});`, 'esm');
        expect({ spec, guard, belowHalf: shaken.length < whole.length / 2 }).toEqual({ spec, guard, belowHalf: true });
      }
    });
  }
});

describe('types', () => {
  /** tsc --noEmit on a project written into the blank project; resolves with its output. */
  async function tsc(name: string, compilerOptions: Record<string, unknown>, files: Record<string, string>): Promise<string> {
    const at = join(dir, 'types', name);
    mkdirSync(at, { recursive: true });
    for (const [file, text] of Object.entries(files)) writeFileSync(join(at, file), text);
    const base = { strict: true, noEmit: true, skipLibCheck: false, target: 'ES2022', lib: ['ES2023'], types: [] as string[] };
    writeFileSync(join(at, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...base, ...compilerOptions }, files: Object.keys(files) }, null, 2));
    try {
      await exec(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(at, 'tsconfig.json')], { cwd: at, encoding: 'utf8' });
      return '';
    } catch (e) {
      return (e as { stdout?: string }).stdout || String(e);
    }
  }

  const RESOLUTIONS = {
    node10: { module: 'commonjs', moduleResolution: 'node10' },
    node16: { module: 'node16', moduleResolution: 'node16' },
    bundler: { module: 'esnext', moduleResolution: 'bundler' },
  } as const;

  /**
   * The entry points of one group: a Node-only package's, and a core package's `/node` subpath (its
   * Node-only part, DESIGN.md), are the node group's; the rest are the core group's.
   */
  function groupEntries(group: 'core' | 'node'): string[] {
    return NAMES.flatMap((n) => entries(manifests.get(n)!).filter((spec) => (NODE_ONLY.has(n) || spec.endsWith('/node')) === (group === 'node')));
  }

  /** A file importing every entry point in `specs` and using one export of each. */
  function importing(specs: string[], form: 'esm' | 'cjs'): string {
    const lines: string[] = [];
    specs.forEach((spec, i) => {
      lines.push(form === 'esm' ? `import * as m${i} from ${JSON.stringify(spec)};` : `import m${i} = require(${JSON.stringify(spec)});`);
      lines.push(`export const n${i}: number = Object.keys(m${i}).length;`);
    });
    return lines.join('\n') + '\n';
  }

  for (const [resolution, options] of Object.entries(RESOLUTIONS)) {
    for (const group of ['core', 'node'] as const) {
      it(`every entry point of the ${group === 'core' ? 'core packages (no Node types)' : 'Node-only packages and /node subpaths'} type-checks under ${resolution} resolution`, async () => {
        const specs = groupEntries(group);
        const files: Record<string, string> =
          resolution === 'node16'
            ? { 'esm.mts': importing(specs, 'esm'), 'cjs.cts': importing(specs, 'cjs') }
            : { 'index.ts': importing(specs, resolution === 'node10' ? 'cjs' : 'esm') };
        const out = await tsc(`${resolution}-${group}`, { ...options, types: group === 'node' ? ['node'] : [] }, files);
        expect(out).toBe('');
      });
    }
  }

  it('are right in every tarball (@arethetypeswrong/cli, strict profile)', async () => {
    const attw = join(__dirname, '..', 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js');
    const problems: Record<string, unknown> = {};
    // Two at a time: each is a TypeScript program of its own.
    const queue = [...s.packed];
    await Promise.all(
      [0, 1].map(async () => {
        for (let p = queue.shift(); p; p = queue.shift()) {
          const r = await exec(process.execPath, [attw, p.file, '--format', 'json', '--no-definitely-typed'], { encoding: 'utf8', maxBuffer: 64 << 20 }).catch((e: { stdout: string }) => ({ stdout: e.stdout }));
          const found = (JSON.parse(r.stdout) as { problems?: Record<string, unknown> }).problems ?? {};
          if (Object.keys(found).length) problems[p.name] = found;
        }
      }),
    );
    expect(problems).toEqual({});
  });
});
