/**
 * The release the global setup made with tools/scripts/release.mjs (`pnpm release`) on a scratch
 * copy of the repository, into a local registry:
 * - `changeset version` took every package to the version the pending changesets plan (0.1.0 for
 *   each, the first release), with a CHANGELOG entry, and left the real tree alone;
 * - each tarball carries LICENSE, the files its package.json lists, and a package.json for
 *   consumers: repository/homepage/bugs, no source condition, dev script, devDependency or
 *   workspace range, and typesVersions for every subpath;
 * - the registry serves every package at that version under "latest";
 * - no package needs a third-party package at run time (else it is named here).
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Packed, State } from './support';
import { entries, isolatedEnv, NODE_ONLY, ROOT, state, tarballFiles, tarballManifest } from './support';

const rootJson = (p: string): Record<string, unknown> => JSON.parse(readFileSync(join(ROOT, p), 'utf8')) as Record<string, unknown>;
const published = readdirSync(join(ROOT, 'packages'))
  .map((d) => ({ dir: d, pkg: rootJson(`packages/${d}/package.json`) }))
  .filter(({ pkg }) => !pkg.private);

let s: State;
let plan: Map<string, string>;
beforeAll(() => {
  s = state();
  // What the pending changesets of the real tree make of each package (read-only there).
  const dir = mkdtempSync(join(tmpdir(), 'vmv-plan-'));
  execFileSync('pnpm', ['exec', 'changeset', 'status', `--output=${join(dir, 'plan.json')}`], { cwd: ROOT, stdio: 'ignore' });
  const releases = (JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')) as { releases: { name: string; newVersion: string }[] }).releases;
  rmSync(dir, { recursive: true });
  plan = new Map(releases.map((r) => [r.name, r.newVersion]));
});

it('released every published package, dependencies first', () => {
  expect(s.packed.map((p) => p.name).sort()).toEqual(published.map((p) => p.pkg.name as string).sort());
  const position = new Map(s.packed.map((p, i) => [p.name, i]));
  for (const p of s.packed) {
    for (const dep of Object.keys((tarballManifest(p.file).dependencies ?? {}) as Record<string, string>)) {
      if (dep.startsWith('@vmv/')) expect(`${dep} before ${p.name}: ${position.get(dep)! < position.get(p.name)!}`).toBe(`${dep} before ${p.name}: true`);
    }
  }
  console.log(
    [`release: ${s.packed.length} packages in ${JSON.stringify(s.seconds)} s`, ...s.packed.map((p) => `  ${`${p.name}@${p.version}`.padEnd(30)} ${(p.size / 1024).toFixed(1).padStart(6)} KiB ${String(p.files).padStart(4)} files`), `mirrored from the workspace: ${s.mirrored.join(', ')}`].join('\n'),
  );
});

it('left the real tree alone: its versions and changesets are as they were', () => {
  for (const { dir, pkg } of published) expect(JSON.parse(readFileSync(join(ROOT, 'packages', dir, 'package.json'), 'utf8')).version).toBe(pkg.version);
  expect(readdirSync(join(ROOT, '.changeset')).filter((f) => f.endsWith('.md') && f !== 'README.md').length).toBeGreaterThan(0);
});

describe.each(published.map(({ dir, pkg }) => [pkg.name as string, dir, pkg] as const))('%s', (name, dir, pkg) => {
  let packed: Packed;
  let manifest: Record<string, unknown>;
  let files: string[];
  beforeAll(() => {
    packed = s.packed.find((p) => p.name === name)!;
    manifest = tarballManifest(packed.file);
    files = tarballFiles(packed.file);
  });

  it('is versioned as the changesets plan (0.1.0 for a first release), with a CHANGELOG entry', () => {
    const expected = plan.get(name) ?? (pkg.version as string);
    if (pkg.version === '0.0.0') expect(expected).toBe('0.1.0');
    expect(packed.version).toBe(expected);
    expect(manifest.version).toBe(expected);
    const changelog = readFileSync(join(s.scratch, 'packages', dir, 'CHANGELOG.md'), 'utf8');
    expect(changelog).toMatch(new RegExp(`^# ${name}\\n\\n## ${expected.replace(/\./g, '\\.')}\\n\\n### (Major|Minor|Patch) Changes\\n\\n- \\S`));
    expect(execFileSync('tar', ['-xzOf', packed.file, 'package/CHANGELOG.md'], { encoding: 'utf8' })).toBe(changelog);
  });

  it('carries the root LICENSE and the files its package.json lists', () => {
    expect(execFileSync('tar', ['-xzOf', packed.file, 'package/LICENSE'], { encoding: 'utf8' })).toBe(readFileSync(join(ROOT, 'LICENSE'), 'utf8'));
    // Each "files" entry (a directory or a glob) brings something, and nothing else comes along.
    const patterns = (pkg.files as string[]).map((f) => new RegExp(`^${f.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/|$)`));
    for (const [i, re] of patterns.entries()) expect(`${(pkg.files as string[])[i]}: ${files.some((f) => re.test(f))}`).toBe(`${(pkg.files as string[])[i]}: true`);
    const extra = files.filter((f) => !['package.json', 'LICENSE', 'README.md'].includes(f) && !patterns.some((re) => re.test(f)));
    expect(extra).toEqual([]);
    for (const built of ['dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/esm/index.js', 'dist/esm/index.d.ts', 'dist/esm/package.json']) expect(files).toContain(built);
  });

  it('has a package.json for consumers: metadata, no source condition, dev scripts, devDependencies or workspace ranges', () => {
    const text = JSON.stringify(manifest);
    expect(text).not.toContain('@vmv/source');
    expect(text).not.toContain('workspace:');
    expect(manifest.devDependencies).toBeUndefined();
    expect(Object.keys((manifest.scripts ?? {}) as object).filter((k) => !['preinstall', 'install', 'postinstall'].includes(k))).toEqual([]);
    expect((manifest.exports as Record<string, unknown>)['./internal/*']).toBeNull();
    expect({ repository: manifest.repository, homepage: manifest.homepage, bugs: manifest.bugs, license: manifest.license }).toEqual({
      repository: pkg.repository,
      homepage: pkg.homepage,
      bugs: pkg.bugs,
      license: 'Apache-2.0',
    });
    // @vmv dependencies: the version released with this one, as a caret range.
    for (const [dep, range] of Object.entries((manifest.dependencies ?? {}) as Record<string, string>)) {
      if (dep.startsWith('@vmv/')) expect(`${dep}@${range}`).toBe(`${dep}@^${s.packed.find((p) => p.name === dep)!.version}`);
    }
  });

  it('maps every subpath in typesVersions for TypeScript resolutions that ignore exports (node10)', () => {
    const subpaths = entries(manifest)
      .filter((e) => e !== name)
      .map((e) => e.slice(name.length + 1));
    const map = ((manifest.typesVersions as Record<string, Record<string, string[]>> | undefined)?.['*'] ?? {}) as Record<string, string[]>;
    expect(Object.keys(map).sort()).toEqual(subpaths.sort());
    for (const [sub, [target]] of Object.entries(map)) {
      expect(files).toContain(target!.replace(/^\.\//, ''));
      expect(target).toMatch(new RegExp(`^\\./dist/cjs/${sub}(/index)?\\.d\\.ts$`));
    }
  });

  it('is on the registry at that version, tagged latest, with the same dependencies', () => {
    const view = JSON.parse(
      execFileSync('npm', ['view', `${name}@${packed.version}`, '--json', '--registry', s.registry], { cwd: s.work, env: isolatedEnv(s), encoding: 'utf8' }),
    ) as { version: string; 'dist-tags': Record<string, string>; dependencies?: Record<string, string> };
    expect(view.version).toBe(packed.version);
    expect(view['dist-tags'].latest).toBe(packed.version);
    expect(view.dependencies ?? {}).toEqual(manifest.dependencies ?? {});
  });

  it(NODE_ONLY.has(name) ? 'names its third-party runtime dependencies (none wanted)' : 'has no runtime dependency outside @vmv', () => {
    const external = Object.keys((manifest.dependencies ?? {}) as object).filter((d) => !d.startsWith('@vmv/'));
    if (NODE_ONLY.has(name)) {
      // Installing it would need these from the public registry; the setup mirrors them.
      if (external.length) console.log(`${name} has third-party runtime dependencies: ${external.join(', ')}`);
      expect(external.every((d) => s.mirrored.some((m) => m.startsWith(`${d}@`)))).toBe(true);
    } else expect(external).toEqual([]);
  });
});

it('publishes nothing twice: run again, the release finds every version on the registry', () => {
  const env = { ...isolatedEnv(s), NPM_CONFIG_USERCONFIG: s.npmrc };
  const out = execFileSync(process.execPath, [join(ROOT, 'tools', 'scripts', 'release.mjs'), '--root', s.scratch, '--no-build', '--no-git-tag', '--registry', s.registry], { cwd: s.scratch, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  expect(out).toContain(`release: 0 published, ${s.packed.length} already on the registry`);
});

it('keeps its tarballs small', () => {
  // A guard against shipping something by accident (a native build tree, test fixtures).
  for (const p of s.packed) expect(`${basename(p.file)} ${p.size < 1024 * 1024}`).toBe(`${basename(p.file)} true`);
});
