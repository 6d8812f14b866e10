// The package as its users install it: `pnpm pack` of @vmv/sys and @vmv/errors, installed from
// those tarballs into a blank project with npm and with pnpm 10, offline, with a PATH that holds
// node, npm and pnpm only (no compiler, make or python). The install must run no script and print
// no build warning, and the installed package must load its prebuilt addon and work.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT, run } from './helpers';

const TIMEOUT = 180_000; // an install takes seconds; the bound is for a hang
let work: string;
let bin: string;
let tarballs: { sys: string; errors: string };

/** The real path of a command on this PATH. */
function which(cmd: string): string {
  return realpathSync(execFileSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { encoding: 'utf8' }).trim());
}

function pack(dir: string, dest: string): string {
  const before = new Set(readdirSync(dest));
  execFileSync(which('pnpm'), ['pack', '--pack-destination', dest], { cwd: dir, stdio: 'ignore' });
  const made = readdirSync(dest).filter((f) => !before.has(f) && f.endsWith('.tgz'));
  if (made.length !== 1) throw new Error(`pnpm pack in ${dir} made ${made.join(', ') || 'nothing'}`);
  return join(dest, made[0]!);
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'vmv-sys-install-'));
  const dest = join(work, 'tarballs');
  mkdirSync(dest);
  tarballs = { sys: pack(PACKAGE_ROOT, dest), errors: pack(join(PACKAGE_ROOT, '..', 'errors'), dest) };
  bin = join(work, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync(which('npm'), join(bin, 'npm'));
  symlinkSync(which('pnpm'), join(bin, 'pnpm'));
}, TIMEOUT);

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A child environment with nothing of ours: this PATH, a private HOME and npm cache. */
function env(): NodeJS.ProcessEnv {
  return { PATH: bin, HOME: join(work, 'home'), npm_config_cache: join(work, 'npm-cache'), npm_config_update_notifier: 'false', LANG: 'C' };
}

async function sh(cmd: string, args: string[], cwd: string): Promise<string> {
  const r = await runIn(cmd, args, cwd);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout + r.stderr;
}

function runIn(cmd: string, args: string[], cwd: string): ReturnType<typeof run> {
  return run(join(bin, cmd), args, ['ignore', 'pipe', 'pipe'], cwd, env());
}

function blankProject(name: string, extra: object = {}): string {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `blank-${name}`, version: '1.0.0', private: true, ...extra }));
  return dir;
}

// Uses the installed package from a script of the project, in CommonJS and in ESM.
const CJS = `const s = require('@vmv/sys');
  const fd = s.memfdCreate('installed', 4096); const m = s.mmap(fd, 4096); new Uint8Array(m.buffer)[0] = 7;
  const e = new s.EventFd(); e.write(2);
  const lib = require('node:fs').readFileSync('/proc/self/maps', 'utf8').split('\\n').find((l) => l.includes('vmv_sys.node'));
  console.log(JSON.stringify({ byte: new Uint8Array(m.buffer)[0], count: e.read(), lib: lib.slice(lib.indexOf('/')) }));`;
const ESM = `const s = await import('@vmv/sys'); const [a, b] = s.UnixStream.pair(); const fd = s.memfdCreate('esm', 4096);
  a.sendmsg(new Uint8Array([1]), [fd]); const r = b.recvmsg(new Uint8Array(4)); console.log(r.bytesRead, r.fds.length, s.fdSize(r.fds[0]));`;

async function checkInstalled(dir: string, output: string): Promise<void> {
  // no script ran: nothing was compiled, and neither npm nor pnpm said anything about scripts or builds
  expect(output).not.toMatch(/install script|allowScripts|build script|node-gyp|gyp (ERR|info)|Ignored build/i);
  const installed = realpathSync(join(dir, 'node_modules', '@vmv', 'sys'));
  expect(existsSync(join(installed, 'native', 'build'))).toBe(false);
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { scripts?: Record<string, string>; dependencies?: Record<string, string> };
  expect(Object.keys(manifest.scripts ?? {}).filter((s) => /install/.test(s))).toEqual([]);
  expect(Object.keys(manifest.dependencies ?? {})).toEqual(['@vmv/errors']);
  const out = JSON.parse(await sh('node', ['-e', CJS], dir)) as { byte: number; count: number; lib: string };
  expect(out).toEqual({ byte: 7, count: 2, lib: join(installed, 'prebuilds', `linux-${process.arch}`, 'vmv_sys.node') });
  expect((await sh('node', ['--input-type=module', '-e', ESM], dir)).trim()).toBe('1 1 4096');
}

describe('installed from the packed tarballs, with no compiler on PATH', () => {
  it('the tarball ships both prebuilds and no binding.gyp', () => {
    const files = execFileSync('tar', ['tzf', tarballs.sys], { encoding: 'utf8' }).split('\n');
    expect(files).toEqual(expect.arrayContaining(['package/prebuilds/linux-x64/vmv_sys.node', 'package/prebuilds/linux-arm64/vmv_sys.node']));
    expect(files.filter((f) => f.endsWith('binding.gyp') || f.includes('native/build'))).toEqual([]);
    expect(readdirSync(bin).sort()).toEqual(['node', 'npm', 'pnpm']);
  });

  it('npm install', async () => {
    const dir = blankProject('npm');
    const started = Date.now();
    const output = await sh('npm', ['install', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', tarballs.sys, tarballs.errors], dir);
    console.log(`npm install of @vmv/sys from its tarball: ${Date.now() - started} ms`);
    await checkInstalled(dir, output);
  }, TIMEOUT);

  it('then builds from source in the installed copy, which the loader takes from then on', async () => {
    // what a machine without a prebuild does (README, Building from source); here with this
    // process's PATH (a compiler) and the repository's node-addon-api, linked offline
    const dir = join(work, 'npm');
    const addonApi = realpathSync(join(PACKAGE_ROOT, 'node_modules', 'node-addon-api'));
    await sh('npm', ['install', '--offline', '--no-audit', '--no-fund', '--save-dev', addonApi], dir);
    const build = await run(process.execPath, [join('node_modules', '@vmv', 'sys', 'scripts', 'build-native.mjs'), '--from-source'], ['ignore', 'pipe', 'pipe'], dir);
    if (build.code !== 0) throw new Error(`build from source failed: ${build.stderr}`);
    const installed = realpathSync(join(dir, 'node_modules', '@vmv', 'sys'));
    const out = JSON.parse(await sh('node', ['-e', CJS], dir)) as { lib: string };
    expect(out.lib).toBe(join(installed, 'native', 'build', 'Release', 'vmv_sys.node'));
  }, TIMEOUT);

  it('pnpm add (pnpm 10)', async () => {
    // pnpm resolves @vmv/sys's dependency on @vmv/errors from the registry unless told to take the tarball
    const dir = blankProject('pnpm', { pnpm: { overrides: { '@vmv/errors': `file:${tarballs.errors}` } } });
    expect((await sh('pnpm', ['--version'], dir)).trim()).toMatch(/^10\./);
    const started = Date.now();
    const output = await sh('pnpm', ['add', '--offline', '--store-dir', join(work, 'pnpm-store'), tarballs.sys, tarballs.errors], dir);
    console.log(`pnpm add of @vmv/sys from its tarball: ${Date.now() - started} ms`);
    await checkInstalled(dir, output);
  }, TIMEOUT);
});
