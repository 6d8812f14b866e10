// How the published entry points find the addon (dist/*/load-addon.cjs), in a copy of the package
// laid out as an install has it: the prebuild for this machine loads with no build from source; a
// build from source wins while it is the newer file; nothing that fits gives Sys.AddonLoadError.
import { afterAll, describe, expect, it } from '@jest/globals';
import { cpSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PACKAGE_ROOT, PREBUILT_ADDON, run } from './helpers';

const PREBUILD = join('prebuilds', `linux-${process.arch}`, 'vmv_sys.node');
const FROM_SOURCE = join('native', 'build', 'Release', 'vmv_sys.node');
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A project with node_modules/@vmv/sys holding package.json, dist and the given addon files. */
function project(files: Record<string, string | Buffer>): { dir: string; pkg: string } {
  const dir = mkdtempSync(join(tmpdir(), 'vmv-sys-loader-'));
  dirs.push(dir);
  const pkg = join(dir, 'node_modules', '@vmv', 'sys');
  mkdirSync(pkg, { recursive: true });
  cpSync(join(PACKAGE_ROOT, 'package.json'), join(pkg, 'package.json'));
  cpSync(join(PACKAGE_ROOT, 'dist'), join(pkg, 'dist'), { recursive: true });
  symlinkSync(realpathSync(join(PACKAGE_ROOT, 'node_modules', '@vmv', 'errors')), join(dir, 'node_modules', '@vmv', 'errors'));
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(pkg, rel)), { recursive: true });
    if (typeof content === 'string') cpSync(content, join(pkg, rel));
    else writeFileSync(join(pkg, rel), content);
  }
  return { dir, pkg };
}

/** Sets a file's modification time, seconds from now. */
function age(file: string, seconds: number): void {
  const t = new Date(Date.now() + seconds * 1000);
  utimesSync(file, t, t);
}

// Loads the package, uses it, and prints which vmv_sys.node the process mapped.
const use = (load: string): string => `
  const s = ${load};
  const fd = s.memfdCreate('loader', 4096); const m = s.mmap(fd, 4096); new Uint8Array(m.buffer)[1] = 9;
  const e = new s.EventFd(); e.write(4);
  const lib = process.getBuiltinModule('node:fs').readFileSync('/proc/self/maps', 'utf8').split('\\n').find((l) => l.includes('vmv_sys.node'));
  console.log(JSON.stringify({ byte: new Uint8Array(m.buffer)[1], count: e.read(), lib: lib.slice(lib.indexOf('/')) }));
  m.close(); s.closeFd(fd); e.close();`;

async function loaded(dir: string, esm = false): Promise<{ byte: number; count: number; lib: string }> {
  const args = esm ? ['--input-type=module', '-e', use("await import('@vmv/sys')")] : ['-e', use("require('@vmv/sys')")];
  const r = await run(process.execPath, args, ['ignore', 'pipe', 'pipe'], dir);
  if (r.code !== 0) throw new Error(`node exited ${r.code ?? r.signal}: ${r.stderr}`);
  return JSON.parse(r.stdout) as { byte: number; count: number; lib: string };
}

async function loadError(dir: string): Promise<Record<string, unknown>> {
  const code = `try { require('@vmv/sys'); console.log('{}'); } catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, syscall: e.syscall, arch: e.arch, platform: e.platform, tried: e.tried, message: e.message })); }`;
  const r = await run(process.execPath, ['-e', code], ['ignore', 'pipe', 'pipe'], dir);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('the addon loader of the published entry points', () => {
  it(`loads prebuilds/linux-${process.arch} when no build from source exists (CommonJS and ESM)`, async () => {
    const { dir, pkg } = project({ [PREBUILD]: PREBUILT_ADDON });
    expect(await loaded(dir)).toEqual({ byte: 9, count: 4, lib: realpathSync(join(pkg, PREBUILD)) });
    expect(await loaded(dir, true)).toEqual({ byte: 9, count: 4, lib: realpathSync(join(pkg, PREBUILD)) });
  });

  it('prefers native/build/Release while it is newer than the prebuild, and the prebuild otherwise', async () => {
    const { dir, pkg } = project({ [PREBUILD]: PREBUILT_ADDON, [FROM_SOURCE]: PREBUILT_ADDON });
    age(join(pkg, PREBUILD), -60);
    expect((await loaded(dir)).lib).toBe(realpathSync(join(pkg, FROM_SOURCE)));
    age(join(pkg, FROM_SOURCE), -120);
    expect((await loaded(dir)).lib).toBe(realpathSync(join(pkg, PREBUILD)));
  });

  it('uses a build from source alone (a platform without a prebuild)', async () => {
    const { dir, pkg } = project({ [FROM_SOURCE]: PREBUILT_ADDON });
    expect((await loaded(dir)).lib).toBe(realpathSync(join(pkg, FROM_SOURCE)));
  });

  it('falls back to the prebuild when a newer build from source does not load', async () => {
    const { dir, pkg } = project({ [PREBUILD]: PREBUILT_ADDON, [FROM_SOURCE]: Buffer.from('not an ELF file') });
    age(join(pkg, PREBUILD), -60);
    expect((await loaded(dir)).lib).toBe(realpathSync(join(pkg, PREBUILD)));
  });

  it('throws Sys.AddonLoadError (ENOENT) naming the platform and how to build when nothing fits', async () => {
    const { dir } = project({});
    const e = await loadError(dir);
    expect(e).toMatchObject({ name: 'Sys.AddonLoadError', code: 'ENOENT', syscall: 'dlopen', platform: 'linux', arch: process.arch, tried: [] });
    expect(e.message).toContain(`no native addon for linux-${process.arch} with glibc`);
    expect(e.message).toContain('node node_modules/@vmv/sys/scripts/build-native.mjs --from-source');
    expect(e.message).toContain('Building from source');
  });

  it('throws Sys.AddonLoadError (ENOEXEC) with the loader error when the only candidate does not load', async () => {
    const { dir, pkg } = project({ [PREBUILD]: Buffer.from('not an ELF file') });
    const e = await loadError(dir);
    expect(e).toMatchObject({ name: 'Sys.AddonLoadError', code: 'ENOEXEC', arch: process.arch });
    expect(e.tried).toEqual([{ file: join(pkg, PREBUILD), error: expect.stringContaining('vmv_sys.node') }]);
    expect(e.message).toContain('does not load');
  });
});
