/**
 * Global setup of the packaging tests: a release, exactly as `pnpm release` makes one, into a
 * local registry.
 * 1. the README and docs examples are extracted (tools/examples; VMV_EXAMPLES_MANIFEST=DIR/manifest.json
 *    uses examples extracted beforehand instead);
 * 2. a scratch copy of the repository (package.json files, READMEs, built dist/, .changeset/) is
 *    made, so `changeset version` never touches the real tree;
 * 3. verdaccio starts on 127.0.0.1 with storage in a temporary directory and no uplinks: it
 *    serves only what is published to it;
 * 4. tools/scripts/release.mjs runs on the scratch copy against it (version, pack, publish; the
 *    packages were built by turbo before this test task);
 * 5. third-party packages a blank project needs (runtime dependencies of our packages, if any,
 *    and @types/node for the type checks) are copied from the workspace into the registry.
 * Failures are recorded in the state file, not thrown, so each test fails naming them.
 */
import type { ChildProcess } from 'node:child_process';
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Example, Packed, State } from './support';
import { ROOT } from './support';

const exec = promisify(execFile);

/** Runs a command, giving its output, or an error with it. */
async function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  try {
    const r = await exec(cmd, args, { ...opts, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 600_000 });
    return r.stdout + r.stderr;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${err.stdout ?? ''}\n${err.stderr ?? err.message}`, { cause: e });
  }
}

/** The examples to run: extracted now, or those VMV_EXAMPLES_MANIFEST names. */
async function examples(work: string): Promise<State['examples']> {
  const given = process.env.VMV_EXAMPLES_MANIFEST;
  if (given) return { dir: dirname(given), manifest: JSON.parse(readFileSync(given, 'utf8')) as Example[] };
  const extractor = join(ROOT, 'tools', 'examples', 'bin', 'extract.mjs');
  if (!existsSync(extractor)) return { error: `the examples extractor ${extractor} is missing` };
  const dir = join(work, 'examples');
  try {
    await run(process.execPath, [extractor, '--out', dir], { cwd: ROOT });
    return { dir, manifest: JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Example[] };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** What a release needs of the repository; built dist/ included, node_modules linked, not copied. */
function scratchCopy(into: string): void {
  const skip = new Set(['node_modules', 'coverage', '.turbo', '.jest-results.json', '.vmv-cache']);
  for (const item of ['package.json', 'pnpm-workspace.yaml', 'LICENSE', '.changeset', 'packages']) {
    cpSync(join(ROOT, item), join(into, item), { recursive: true, filter: (src) => !skip.has(basename(src)) && !src.includes('/native/build') });
  }
  // The changelog generator named in .changeset/config.json is resolved from the repository.
  symlinkSync(join(ROOT, 'node_modules'), join(into, 'node_modules'));
}

/** verdaccio in a child process (verdaccio.cjs): anyone may read and publish, nothing is proxied. */
async function startRegistry(work: string): Promise<{ child: ChildProcess; port: number }> {
  const dir = join(work, 'verdaccio');
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    [
      `storage: ${join(dir, 'storage')}`,
      'auth:',
      '  htpasswd:',
      `    file: ${join(dir, 'htpasswd')}`,
      '    max_users: -1',
      'uplinks: {}',
      'packages:',
      "  '**':",
      '    access: $all',
      '    publish: $all',
      '    unpublish: $all',
      'log: { type: stdout, format: pretty, level: error }',
      '',
    ].join('\n'),
  );
  const child = spawn(process.execPath, [join(__dirname, 'verdaccio.cjs'), config], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      const m = /^(\d+)\n/.exec(output);
      if (m) resolve(Number(m[1]));
    });
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (code) => reject(new Error(`verdaccio exited (${code}) before listening:\n${output}`)));
  });
  child.stdout!.removeAllListeners('data');
  child.stdout!.resume();
  child.stderr!.resume();
  return { child, port };
}

/** The directory a dependency `name` of the package at `from` is installed in (node resolution). */
function installedDir(name: string, from: string): string {
  for (let dir = from; dir !== dirname(dir); dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
  }
  throw new Error(`${name} is not installed where ${from} would find it`);
}

/**
 * Publishes the workspace's copies of third-party packages (and their dependencies) to the
 * registry, so blank projects install them from there. Returns name@version of each.
 */
async function mirror(wanted: { name: string; from: string }[], registry: string, env: NodeJS.ProcessEnv, out: string): Promise<string[]> {
  const done = new Map<string, string>();
  const queue = [...wanted];
  while (queue.length) {
    const { name, from } = queue.shift()!;
    if (done.has(name)) continue;
    const dir = installedDir(name, from);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string; dependencies?: Record<string, string> };
    done.set(name, `${name}@${pkg.version}`);
    const report = JSON.parse(await run('npm', ['pack', dir, '--pack-destination', out, '--ignore-scripts', '--json'], { env }).then((o) => o.slice(o.indexOf('[')))) as { filename: string }[];
    await run('npm', ['publish', join(out, report[0]!.filename), '--registry', registry, '--ignore-scripts', '--tag', 'latest'], { env });
    for (const dep of Object.keys(pkg.dependencies ?? {})) queue.push({ name: dep, from: dir });
  }
  return [...done.values()];
}

export default async function setup(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'vmv-packed-'));
  const file = join(work, 'state.json');
  process.env.VMV_PACKED_STATE = file;
  const seconds: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T> | T): Promise<T> => {
    const start = Date.now();
    try {
      return await f();
    } finally {
      seconds[name] = (Date.now() - start) / 1000;
    }
  };
  const state: State = { work, registry: '', scratch: join(work, 'scratch'), releaseLog: '', packed: [], mirrored: [], npmrc: join(work, 'npmrc'), examples: { error: 'not extracted' }, seconds };
  try {
    state.examples = await timed('extract examples', () => examples(work));
    await timed('scratch copy', () => scratchCopy(state.scratch));
    const { child, port } = await timed('start verdaccio', () => startRegistry(work));
    (globalThis as { vmvRegistry?: ChildProcess }).vmvRegistry = child;
    state.registry = `http://127.0.0.1:${port}/`;
    writeFileSync(state.npmrc, `registry=${state.registry}\n//127.0.0.1:${port}/:_authToken=fake-token-for-the-local-registry\n`);
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
    Object.assign(env, {
      NPM_CONFIG_USERCONFIG: state.npmrc,
      npm_config_cache: join(work, 'cache', 'npm'),
      npm_config_https_proxy: 'http://127.0.0.1:9',
      npm_config_proxy: 'http://127.0.0.1:9',
      npm_config_noproxy: '127.0.0.1,localhost',
    });
    const release = join(ROOT, 'tools', 'scripts', 'release.mjs');
    state.releaseLog = await timed('release (version, pack, publish)', () =>
      run(process.execPath, [release, '--root', state.scratch, '--no-build', '--no-git-tag', '--registry', state.registry], { cwd: state.scratch, env }),
    );
    state.packed = JSON.parse(readFileSync(join(state.scratch, '.vmv-cache', 'tarballs', 'packed.json'), 'utf8')) as Packed[];
    const thirdParty = [{ name: '@types/node', from: ROOT }];
    for (const p of state.packed) {
      // Resolved from the package's directory in the repository, where its dependencies are installed.
      const from = join(ROOT, 'packages', basename(p.dir));
      const pkg = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
      for (const dep of Object.keys(pkg.dependencies ?? {})) if (!dep.startsWith('@vmv/')) thirdParty.push({ name: dep, from });
    }
    mkdirSync(join(work, 'mirror'));
    state.mirrored = await timed('mirror third-party packages', () => mirror(thirdParty, state.registry, env, join(work, 'mirror')));
  } catch (e) {
    state.error = e instanceof Error ? e.message : String(e);
  }
  writeFileSync(file, JSON.stringify(state, null, 2));
}
