/**
 * Each package installed from the local registry the way a user installs it: alone, plus the
 * other @vmv packages its README examples import and nothing else, into a blank project outside
 * the monorepo, with npm and with pnpm (strict layout: an undeclared dependency fails). There:
 * every entry point loads as ESM and as CommonJS with the same names, its commands answer --help,
 * and every README example (tools/examples' manifest) runs as ESM and as CommonJS and exits 0
 * with nothing on stderr.
 * Examples of pages that are not a package's README (the root README, docs/) run in a project
 * of their own. Yarn classic installs @vmv/sys and @vmv/memory.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Example, Manager, State } from './support';
import { blankProject, entries, ROOT, runNode, state, tarballManifest } from './support';

/** The groups of examples: one per package README, one for the other pages. */
const DOCS = 'repository pages';

interface Group {
  name: string;
  install: string[];
  examples: Example[];
}

let s: State;
let groups: Group[];
let allowBuilds: string[];
const installSeconds: string[] = [];

beforeAll(() => {
  s = state();
  if ('error' in s.examples) throw new Error(`no README examples to run: ${s.examples.error}`);
  const manifest = s.examples.manifest.filter((e) => e.node);
  const versionOf = new Map(s.packed.map((p) => [p.name, p.version]));
  const spec = (name: string): string => {
    const version = versionOf.get(name);
    if (!version) throw new Error(`an example imports ${name}, which was not released`);
    return `${name}@${version}`;
  };
  groups = [...s.packed.map((p) => p.name), DOCS].map((name) => {
    const examples = manifest.filter((e) => (e.package ?? DOCS) === name);
    const install = new Set([...(name === DOCS ? [] : [name]), ...examples.flatMap((e) => e.packages)]);
    return { name, install: [...install].sort().map(spec), examples };
  });
  // Packages whose install runs a script: pnpm 10 runs it only for packages the project allows.
  allowBuilds = s.packed.filter((p) => Object.keys((tarballManifest(p.file).scripts ?? {}) as object).length > 0).map((p) => p.name);
});

afterAll(() => console.log(`install times (s):\n  ${installSeconds.join('\n  ')}`));

/** Loads `spec` from ESM and from CommonJS in `dir`; the sorted export names of each. */
async function names(spec: string, dir: string): Promise<{ esm: string[]; cjs: string[] }> {
  const esm = await runNode(['--input-type=module', '-e', `import * as m from ${JSON.stringify(spec)}; console.log(JSON.stringify(Object.keys(m).filter(k => k !== 'default').sort()))`], dir);
  const cjs = await runNode(['-e', `console.log(JSON.stringify(Object.keys(require(${JSON.stringify(spec)})).sort()))`], dir);
  if (esm.code !== 0 || cjs.code !== 0) throw new Error(`${spec} does not load in ${dir}:\n${esm.stderr}\n${cjs.stderr}`);
  return { esm: JSON.parse(esm.stdout) as string[], cjs: JSON.parse(cjs.stdout) as string[] };
}

/** Copies each example into the project and runs it as ESM and CommonJS there. */
async function runExamples(examples: Example[], dir: string): Promise<Record<string, { code: number | null; stderr: string }>> {
  const from = (s.examples as { dir: string }).dir;
  const results: Record<string, { code: number | null; stderr: string }> = {};
  for (const e of examples) {
    for (const form of ['esm', 'cjs'] as const) {
      copyFileSync(join(from, e[form]), join(dir, e[form]));
      const r = await runNode([e[form]], dir);
      results[`${e.id} (${form})`] = { code: r.code, stderr: r.stderr };
    }
  }
  return results;
}

const PACKAGES = [
  ...readdirSync(join(ROOT, 'packages'))
    .map((d) => JSON.parse(readFileSync(join(ROOT, 'packages', d, 'package.json'), 'utf8')) as { name: string; private?: boolean })
    .filter((p) => !p.private)
    .map((p) => p.name),
  DOCS,
];

describe.each(PACKAGES.flatMap((name) => (['npm', 'pnpm'] as Manager[]).map((m) => [name, m] as const)))('%s with %s', (name, manager) => {
  let group: Group;
  let dir: string;
  beforeAll(() => {
    group = groups.find((g) => g.name === name)!;
    if (group.install.length === 0) return;
    const project = blankProject(s, `${name.replace(/\W+/g, '-')}-${manager}`, manager, group.install, { allowBuilds });
    dir = project.dir;
    installSeconds.push(`${manager.padEnd(5)} ${project.seconds.toFixed(1).padStart(5)}  ${group.install.join(' ')}`);
  });

  if (name !== DOCS) {
    it('installs with only the @vmv packages it and its examples name; every entry point loads as ESM and as CommonJS alike', async () => {
      const pkg = tarballManifest(s.packed.find((p) => p.name === name)!.file);
      for (const spec of entries(pkg)) {
        const { esm, cjs } = await names(spec, dir);
        expect(esm.length).toBeGreaterThan(0);
        expect({ spec, names: cjs }).toEqual({ spec, names: esm });
      }
      // Its commands are on the project's PATH, executable, and answer --help.
      for (const bin of Object.keys((pkg.bin ?? {}) as object)) {
        const help = execFileSync(join(dir, 'node_modules', '.bin', bin), ['--help'], { cwd: dir, encoding: 'utf8' });
        expect(help).toContain(bin);
      }
    });
  }

  it('runs its README examples as ESM and as CommonJS', async () => {
    if (group.examples.length === 0) return;
    const results = await runExamples(group.examples, dir);
    for (const [id, r] of Object.entries(results)) expect({ id, ...r }).toEqual({ id, code: 0, stderr: '' });
  });
});

describe('yarn classic', () => {
  it('installs @vmv/sys and @vmv/memory; both load and their README examples run', async () => {
    const wanted = ['@vmv/sys', '@vmv/memory'];
    const specs = wanted.map((n) => `${n}@${s.packed.find((p) => p.name === n)!.version}`);
    const { dir, seconds } = blankProject(s, 'yarn', 'yarn', specs);
    installSeconds.push(`yarn  ${seconds.toFixed(1).padStart(5)}  ${specs.join(' ')}`);
    for (const spec of wanted) {
      const { esm, cjs } = await names(spec, dir);
      expect(cjs).toEqual(esm);
    }
    const examples = (s.examples as { manifest: Example[] }).manifest.filter((e) => e.node && wanted.includes(e.package ?? '') && e.packages.every((p) => wanted.includes(p)));
    const results = await runExamples(examples, dir);
    for (const [id, r] of Object.entries(results)) expect({ id, ...r }).toEqual({ id, code: 0, stderr: '' });
  });
});
