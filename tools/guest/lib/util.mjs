// What the harness modules share: paths, running commands, finding host programs, the cache lock, hashing.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** tools/guest (this package). */
export const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The repository root. */
export const REPO_ROOT = resolve(PACKAGE_DIR, '..', '..');
/** tools/guest/scripts. */
export const SCRIPTS = join(PACKAGE_DIR, 'scripts');

/**
 * The cache directory of everything downloaded or built for the guests: env VMV_GUEST_DIR, else
 * `<repo>/.vmv-cache/guest`. One subdirectory per platform.
 * @returns {string}
 */
export function guestCacheDir() {
  return resolve(process.env.VMV_GUEST_DIR || join(REPO_ROOT, '.vmv-cache', 'guest'));
}

/**
 * Runs a command, resolves with its stdout; rejects with an Error carrying stdout/stderr.
 * @param {string} cmd
 * @param {string[]} args
 * @param {{cwd?: string, env?: object, timeoutMs?: number, maxBuffer?: number, encoding?: string}} [opts]
 * @returns {Promise<string|Buffer>}
 * @example await run('uname', ['-r'])
 */
export function run(cmd, args, opts = {}) {
  return new Promise((res, rej) => {
    execFile(cmd, args, {
      cwd: opts.cwd, env: { ...process.env, ...opts.env }, timeout: opts.timeoutMs ?? 1_800_000,
      maxBuffer: opts.maxBuffer ?? 256 * 1024 * 1024, encoding: opts.encoding ?? 'utf8', killSignal: 'SIGTERM',
    }, (err, stdout, stderr) => {
      if (err) {
        const text = String(stderr || '').trim() || String(stdout || '').trim();
        const e = new Error(`${cmd} ${args.join(' ')} failed (${err.code ?? err.signal}): ${text.slice(-2000)}`);
        e.stdout = stdout; e.stderr = stderr; e.exitCode = err.code; e.lastLine = text.split('\n').pop();
        rej(e);
      } else res(stdout);
    });
  });
}

const SBIN_PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;

/**
 * Path of an executable in PATH plus /usr/sbin and /sbin, or null. With `root`, looks in that root's
 * /usr/sbin, /usr/bin, /sbin and /bin instead and returns the host path of the file.
 * @param {string} name
 * @param {string} [root]
 * @returns {string|null}
 * @example which('mkfs.ext4')
 */
export function which(name, root) {
  const dirs = root ? ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].map((d) => join(root, d)) : SBIN_PATH.split(':');
  for (const d of dirs) {
    if (!d) continue;
    const p = join(d, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch { /* not there */ }
  }
  return null;
}

/**
 * Identity of a file for a cache key: real path, size and mtime (a package upgrade changes them).
 * @param {string|null} path
 * @returns {string}
 */
export function fileIdentity(path) {
  if (!path) return 'missing';
  const real = realpathSync(path);
  const st = statSync(real);
  return `${real}:${st.size}:${st.mtimeMs}`;
}

/**
 * Adds every file under `dir` (names relative to `base` and contents) to a hash.
 * @param {import('node:crypto').Hash} h
 * @param {string} dir
 * @param {string} [base]
 * @returns {import('node:crypto').Hash}
 */
export function hashTree(h, dir, base = dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) hashTree(h, p, base);
    else h.update(`${p.slice(base.length)}\0`).update(readFileSync(p)).update('\0');
  }
  return h;
}

/**
 * sha256 (hex) of strings and the contents of files, in order.
 * @param {Array<string|{file: string}>} parts
 * @returns {string}
 * @example hashOf([{ file: 'scripts/fetch-kernel.sh' }, 'trixie'])
 */
export function hashOf(parts) {
  const h = createHash('sha256');
  for (const p of parts) {
    if (typeof p === 'string') h.update(p);
    else h.update(readFileSync(p.file));
    h.update('\0');
  }
  return h.digest('hex');
}

/**
 * Runs `fn` holding a cross-process lock on `dir` (mkdir is atomic); a lock whose owner died is taken over.
 * @template T
 * @param {string} dir
 * @param {() => Promise<T>} fn
 * @param {number} [maxWaitMs=1800000]
 * @returns {Promise<T>}
 */
export async function withLock(dir, fn, maxWaitMs = 30 * 60_000) {
  mkdirSync(dir, { recursive: true });
  const lock = join(dir, '.lock');
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      let owner = 0;
      try { owner = Number(readFileSync(join(lock, 'pid'), 'utf8')); } catch { /* being written */ }
      let alive = true;
      if (owner > 0) {
        try { process.kill(owner, 0); } catch (k) { alive = k.code === 'EPERM'; }
      } else {
        // no pid yet: either being created right now, or left behind by a crash between mkdir and write
        try { alive = Date.now() - statSync(lock).mtimeMs < 10_000; } catch { alive = false; }
      }
      if (!alive) { rmSync(lock, { recursive: true, force: true }); continue; }
      if (Date.now() > deadline) throw new Error(`guest cache: lock ${lock} held by pid ${owner} for ${maxWaitMs / 60_000} minutes`, { cause: e });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * Reads a stamp file (the key a cached thing was built with), or null.
 * @param {string} path
 * @returns {string|null}
 */
export function readStamp(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/**
 * One request to a daemon's control socket (`--control-socket`): the daemon kit's `controlRequest`, from
 * packages/vhost-user's build.
 * @param {string} path  the control socket
 * @param {string} execute  the command
 * @param {object} [args]  its arguments
 * @returns {Promise<unknown>} the reply's `return`
 * @throws Error with the reply's error class and text, or when the daemon does not answer within 60 s
 * @example await daemonControl(ctl, 'lun-add', { image: '/tmp/b.img' })
 */
export async function daemonControl(path, execute, args) {
  const { createRequire } = await import('node:module');
  const { controlRequest } = createRequire(import.meta.url)(join(REPO_ROOT, 'packages', 'vhost-user', 'dist', 'cjs', 'daemon', 'index.js'));
  const reply = await controlRequest(path, execute, args);
  if (reply.error) throw new Error(`${execute}: ${reply.error.class}: ${reply.error.desc}`);
  return reply.return;
}
