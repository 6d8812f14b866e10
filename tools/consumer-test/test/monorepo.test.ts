/**
 * The monorepo's promises to its users and maintainers, checked on the repository itself:
 * independent per-package releases with public access, workspace links between @vmv packages,
 * every published package complete (README sections, changeset or changelog, strict settings),
 * turbo ordering builds before dependants.
 */
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..', '..', '..');
const json = (p: string): Record<string, unknown> => JSON.parse(readFileSync(join(root, p), 'utf8')) as Record<string, unknown>;

interface Pkg {
  dir: string;
  name: string;
  private?: boolean;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}
const pkgs: Pkg[] = readdirSync(join(root, 'packages'))
  .filter((d) => existsSync(join(root, 'packages', d, 'package.json')))
  .map((d) => ({ dir: `packages/${d}`, ...(json(`packages/${d}/package.json`) as unknown as Omit<Pkg, 'dir'>) }));
const published = pkgs.filter((p) => !p.private);

describe('release configuration', () => {
  it('changesets version packages independently and publish them publicly', () => {
    const cfg = json('.changeset/config.json');
    expect(cfg.access).toBe('public');
    expect(cfg.fixed).toEqual([]);
    expect(cfg.linked).toEqual([]);
    expect(cfg.baseBranch).toBe('main');
  });

  it('every published package has a pending changeset or a changelog', () => {
    const sets = readdirSync(join(root, '.changeset'))
      .filter((f) => f.endsWith('.md') && f !== 'README.md')
      .map((f) => readFileSync(join(root, '.changeset', f), 'utf8'));
    for (const p of published) {
      const mentioned = sets.some((s) => s.split('---')[1]?.includes(`"${p.name}"`));
      expect({ name: p.name, covered: mentioned || existsSync(join(root, p.dir, 'CHANGELOG.md')) }).toEqual({ name: p.name, covered: true });
    }
  });

  it('changeset status computes a release plan with a bump for each changed package', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmv-cs-'));
    execFileSync('pnpm', ['exec', 'changeset', 'status', `--output=${join(dir, 'status.json')}`], { cwd: root, stdio: 'ignore' });
    const plan = JSON.parse(readFileSync(join(dir, 'status.json'), 'utf8')) as { releases: { name: string; newVersion: string }[] };
    rmSync(dir, { recursive: true });
    const bumped = new Set(plan.releases.map((r) => r.name));
    for (const p of published) if (!existsSync(join(root, p.dir, 'CHANGELOG.md'))) expect(bumped).toContain(p.name);
  });
});

describe('workspace', () => {
  it('links @vmv packages with workspace: ranges, never registry versions', () => {
    for (const p of pkgs) {
      for (const [dep, range] of Object.entries({ ...p.dependencies, ...p.devDependencies })) {
        if (dep.startsWith('@vmv/')) expect(`${p.name} -> ${dep}@${range}`).toMatch(/@workspace:/);
      }
    }
  });

  it('core packages have no runtime dependencies outside @vmv', () => {
    const nodeOnly = new Set(['@vmv/sys', '@vmv/vhost-user', '@vmv/vhost-user-blk', '@vmv/vhost-user-rng', '@vmv/vhost-user-input', '@vmv/vhost-user-console', '@vmv/vhost-user-vsock', '@vmv/vhost-user-scsi', '@vmv/vhost-user-sound', '@vmv/vhost-user-gpio', '@vmv/vhost-user-i2c', '@vmv/vhost-user-can', '@vmv/vhost-user-spi', '@vmv/vfio-user-daemon']);
    for (const p of published.filter((q) => !nodeOnly.has(q.name))) {
      expect({ name: p.name, external: Object.keys(p.dependencies ?? {}).filter((d) => !d.startsWith('@vmv/')) }).toEqual({ name: p.name, external: [] });
    }
  });

  it('turbo builds dependencies first and tests after building', () => {
    const turbo = json('turbo.json') as { tasks: Record<string, { dependsOn?: string[] }> };
    expect(turbo.tasks.build?.dependsOn).toContain('^build');
    expect(turbo.tasks.test?.dependsOn).toContain('^build');
    expect(turbo.tasks.typecheck?.dependsOn).toContain('^build');
  });

  it('carries the full Apache-2.0 text in LICENSE, the license every package declares', () => {
    const text = readFileSync(join(root, 'LICENSE'), 'utf8');
    expect(text).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/);
    expect(text).toContain('TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION');
    expect(text).toContain('END OF TERMS AND CONDITIONS');
    for (const p of pkgs) expect(`${p.name}: ${String(json(`${p.dir}/package.json`).license)}`).toBe(`${p.name}: Apache-2.0`);
  });

  it('compiles with strict settings, noUncheckedIndexedAccess included', () => {
    const base = json('tsconfig.base.json') as { compilerOptions: Record<string, unknown> };
    expect(base.compilerOptions.strict).toBe(true);
    expect(base.compilerOptions.noUncheckedIndexedAccess).toBe(true);
  });
});

describe('vhost-user-blk README', () => {
  // "in this repository": one line that works on a fresh clone (install, then build the package
  // and every package it depends on, then run the daemon).
  const readme = readFileSync(join(root, 'packages/vhost-user-blk/README.md'), 'utf8');
  const line = readme.split('\n')[readme.split('\n').findIndex((l) => /in this repository/.test(l)) + 1] ?? '';
  const parts = line.split('&&').map((c) => c.trim().split(/\s+/));

  it('builds the package with everything it depends on before running it', () => {
    expect(parts[0]).toEqual(['pnpm', 'install']);
    const build = parts.find((c) => c.includes('turbo') && c.includes('build'))!;
    expect(build.slice(0, 2)).toEqual(['pnpm', 'turbo']);
    const dry = JSON.parse(execFileSync(build[0]!, [...build.slice(1), '--dry=json'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as { tasks: { taskId: string }[] };
    const needed = new Set<string>();
    const visit = (name: string): void => {
      if (needed.has(name)) return;
      needed.add(name);
      for (const dep of Object.keys(pkgs.find((q) => q.name === name)?.dependencies ?? {})) if (dep.startsWith('@vmv/')) visit(dep);
    };
    visit('@vmv/vhost-user-blk');
    const built = dry.tasks.map((t) => t.taskId);
    for (const name of needed) expect(built).toContain(`${name}#build`);
  });

  it('runs the built daemon', () => {
    const run = parts.at(-1)!;
    expect(run[0]).toBe('node');
    expect(execFileSync(process.execPath, run.slice(1), { cwd: root, encoding: 'utf8' })).toMatch(/vmv-vhost-user-blk/);
  });
});

describe.each(published.map((p) => [p.name, p] as const))('%s', (_name, p) => {
  const readme = readFileSync(join(root, p.dir, 'README.md'), 'utf8');
  it('has a README with what it is, install, an example and the VIRTIO sections it covers', () => {
    expect(readme).toMatch(/^# @vmv\//);
    expect(readme).toMatch(/(npm install|pnpm add)( -g)? @vmv\//);
    expect(readme).toMatch(/```(ts|typescript|sh|js)/);
    expect(readme).toMatch(/VIRTIO|virtio/);
    expect(readme).toMatch(/section|§/i);
  });

  it('names the repository, homepage and issue tracker the root package.json names, with its own directory', () => {
    const rootPkg = json('package.json') as { repository: { url: string }; bugs: string };
    const web = rootPkg.repository.url.replace(/^git\+/, '').replace(/\.git$/, '');
    const own = json(`${p.dir}/package.json`);
    expect({ repository: own.repository, homepage: own.homepage, bugs: own.bugs }).toEqual({
      repository: { ...rootPkg.repository, directory: p.dir },
      homepage: `${web}/tree/main/${p.dir}#readme`,
      bugs: rootPkg.bugs,
    });
  });

  it('runs lint, type checks of sources and tests, and its tests', () => {
    const scripts = (json(`${p.dir}/package.json`).scripts ?? {}) as Record<string, string>;
    expect(scripts.lint).toMatch(/eslint/);
    expect(scripts.typecheck).toMatch(/tsc -p tsconfig\.json/);
    expect(scripts.test).toMatch(/jest/);
    const tsconfig = json(`${p.dir}/tsconfig.json`) as { include?: string[] };
    expect(tsconfig.include).toEqual(expect.arrayContaining(['src', 'test']));
  });
});

// Each daemon ships the description file of QEMU's docs/interop/vhost-user.rst ("Backend program conventions";
// schema docs/interop/vhost-user.json) that management tools discover it by.
const daemons = published.flatMap((p) => Object.entries((json(`${p.dir}/package.json`).bin ?? {}) as Record<string, string>).map(([bin, file]) => ({ ...p, bin, file })));
// vmv-vfio-user is no vhost-user backend (QEMU's vfio-user-pci has no discovery file): the convention is not its.
const NOT_VHOST_USER = new Set(['vmv-vfio-user']);
describe.each(daemons.filter((d) => !NOT_VHOST_USER.has(d.bin)).map((d) => [d.bin, d] as const))('daemon %s', (_bin, d) => {
  const FILE = `${d.dir}/vhost-user/50-${d.bin}.json`;

  it('ships vhost-user/50-<program>.json (package.json files), QEMU\'s lookup name', () => {
    expect(existsSync(join(root, FILE))).toBe(true);
    expect(json(`${d.dir}/package.json`).files).toContain('vhost-user');
  });

  it('describes it with exactly the schema fields: its type, as the built daemon prints it, and the binary by an absolute path', () => {
    const desc = json(FILE);
    expect(Object.keys(desc).sort()).toEqual(['binary', 'description', 'type']);
    for (const k of ['binary', 'description', 'type']) expect(typeof desc[k]).toBe('string');
    expect(String(desc.binary)).toMatch(new RegExp(`^/.*/${d.bin}$`));
    const printed = execFileSync(process.execPath, [join(root, d.dir, d.file), '--print-capabilities'], { encoding: 'utf8' });
    expect((JSON.parse(printed) as { type: string }).type).toBe(desc.type);
  });
});

describe('no registry or mirror host in the repository', () => {
  // Scripts read the Debian mirror from the machine's apt sources and the npm registry from npm's
  // config; a host name written into a tracked file would pin every user to one.
  it('names no package registry or Debian mirror in any tracked file', () => {
    const hosts = /registry\.npmjs\.org|registry\.yarnpkg\.com|registry\.npmmirror\.com|deb\.debian\.org|security\.debian\.org|ftp\.[a-z.]*debian\.org/;
    const files = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' }).split('\0').filter(Boolean);
    const hits = files.filter((f) => existsSync(join(root, f)) && hosts.test(readFileSync(join(root, f), 'latin1')));
    expect(hits).toEqual([]);
  });
});
