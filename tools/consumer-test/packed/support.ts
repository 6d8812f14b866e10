/**
 * What the packaging tests share. The global setup (setup.ts) releases every package once, as
 * `pnpm release` does, into a local registry (verdaccio, no uplinks) and records what it made in
 * a state file; the tests read it here and install the packages from that registry into blank
 * projects under the system's temporary directory, outside the monorepo, with npm, pnpm or yarn.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ManifestEntry } from '../../examples/lib/manifest';

export const ROOT = join(__dirname, '..', '..', '..');

export interface Packed {
  name: string;
  version: string;
  /** The package's directory in the scratch copy. */
  dir: string;
  file: string;
  size: number;
  files: number;
}

/** One complete README or docs example, as tools/examples' extractor lists it in manifest.json. */
/** A program of the examples manifest (tools/examples declares the shape). */
export type Example = ManifestEntry;

export interface State {
  /** Why the release into the local registry failed, if it did. */
  error?: string;
  work: string;
  registry: string;
  /** The scratch copy of the repository that was versioned and packed. */
  scratch: string;
  /** The release's output (`pnpm release` steps). */
  releaseLog: string;
  /** Published tarballs, dependencies first. */
  packed: Packed[];
  /** Third-party packages copied from the workspace into the registry (runtime dependencies, @types/node). */
  mirrored: string[];
  /** The npm user config that publishes with a fake token. */
  npmrc: string;
  /** The extracted examples, or why they could not be extracted. */
  examples: { dir: string; manifest: Example[] } | { error: string };
  seconds: Record<string, number>;
}

/** The state the global setup left; throws its error, so every test that needs it fails with it. */
export function state(): State {
  const file = process.env.VMV_PACKED_STATE;
  if (!file) throw new Error('VMV_PACKED_STATE is not set: run these tests through jest with the "packed" project (its global setup)');
  const s = JSON.parse(readFileSync(file, 'utf8')) as State;
  if (s.error) throw new Error(`the release into the local registry failed:\n${s.error}`);
  return s;
}

/**
 * Environment for a package manager in a blank project: caches and stores under the work
 * directory, and a dead proxy for anything but this machine, so an attempt to reach the public
 * registry fails instead of going unnoticed.
 */
export function isolatedEnv(s: State): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(npm_|pnpm_|yarn_|NPM_|PNPM_|YARN_)/i.test(k)) env[k] = v;
  return {
    ...env,
    npm_config_cache: join(s.work, 'cache', 'npm'),
    npm_config_https_proxy: 'http://127.0.0.1:9',
    npm_config_proxy: 'http://127.0.0.1:9',
    npm_config_noproxy: '127.0.0.1,localhost',
    npm_config_fetch_retries: '0',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    YARN_CACHE_FOLDER: join(s.work, 'cache', 'yarn'),
    COREPACK_ENABLE_STRICT: '0',
  };
}

export type Manager = 'npm' | 'pnpm' | 'yarn';

/**
 * A blank project at work/projects/<name> with `specs` installed by `manager` from the local
 * registry. pnpm keeps its strict layout (no hoisting), so an undeclared dependency fails there.
 * Returns the project directory and the install's duration in seconds.
 */
export function blankProject(s: State, name: string, manager: Manager, specs: string[], options: { allowBuilds?: string[] } = {}): { dir: string; seconds: number } {
  const dir = join(s.work, 'projects', name);
  mkdirSync(dir, { recursive: true });
  const pkg: Record<string, unknown> = { name: `consumer-${name}`, version: '1.0.0', private: true };
  // pnpm 10 runs no dependency's install script unless the project allows it, as a user must.
  if (manager === 'pnpm' && options.allowBuilds?.length) pkg.pnpm = { onlyBuiltDependencies: options.allowBuilds };
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  const cache = join(s.work, 'cache');
  writeFileSync(join(dir, '.npmrc'), [`registry=${s.registry}`, `cache=${cache}/npm`, `store-dir=${cache}/pnpm-store`, `cache-dir=${cache}/pnpm-cache`, 'hoist=false', ''].join('\n'));
  if (manager === 'yarn') writeFileSync(join(dir, '.yarnrc'), `registry "${s.registry}"\n`);
  const start = Date.now();
  const env = isolatedEnv(s);
  // Yarn classic sends plain-http requests (the local registry) through "proxy" too: the dead
  // proxy stays for https only, which is how the public registry is reached.
  if (manager === 'yarn') delete env.npm_config_proxy;
  const yarn = join(__dirname, '..', 'node_modules', 'yarn', 'bin', 'yarn.js');
  const [cmd, args] =
    manager === 'npm'
      ? ['npm', ['install', '--no-package-lock', ...specs]]
      : manager === 'pnpm'
        ? ['pnpm', ['add', ...specs]]
        : [process.execPath, [yarn, 'add', '--no-lockfile', '--non-interactive', '--registry', s.registry, ...specs]];
  try {
    execFileSync(cmd, args, { cwd: dir, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${manager} install of ${specs.join(' ')} in ${dir} failed:\n${err.stdout ?? ''}\n${err.stderr ?? err.message}`, { cause: e });
  }
  return { dir, seconds: (Date.now() - start) / 1000 };
}

/** Runs `node args` in `cwd`; resolves with the exit code and output (never rejects). */
export function runNode(args: string[], cwd: string, timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The package.json inside a tarball. */
export function tarballManifest(file: string): Record<string, unknown> {
  return JSON.parse(execFileSync('tar', ['-xzOf', file, 'package/package.json'], { encoding: 'utf8' })) as Record<string, unknown>;
}

/** The paths inside a tarball, without the leading package/. */
export function tarballFiles(file: string): string[] {
  return execFileSync('tar', ['-tzf', file], { encoding: 'utf8', maxBuffer: 16 << 20 })
    .split('\n')
    .filter(Boolean)
    .map((p) => p.replace(/^package\//, ''));
}

/** Public entry points of a published package.json: export keys that map to files. */
export function entries(pkg: Record<string, unknown>): string[] {
  return Object.entries((pkg.exports ?? {}) as Record<string, unknown>)
    .filter(([k, v]) => v !== null && !k.includes('*') && k !== './package.json')
    .map(([k]) => String(pkg.name) + k.slice(1));
}

/** Packages that need Node (and Linux): everything else runs in browsers. */
export const NODE_ONLY = new Set(['@vmv/sys', '@vmv/vhost-user', '@vmv/vhost-user-blk', '@vmv/vhost-user-rng', '@vmv/vhost-user-input', '@vmv/vhost-user-console', '@vmv/vhost-user-vsock', '@vmv/vhost-user-scsi', '@vmv/vhost-user-sound', '@vmv/vhost-user-gpio', '@vmv/vhost-user-i2c', '@vmv/vhost-user-can', '@vmv/vhost-user-spi', '@vmv/vfio-user-daemon']);
