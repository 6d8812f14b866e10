// The guest image: the distro kernel (PVH vmlinux + modules) and two initramfs archives built from this
// package's scripts. Everything lives in a cache directory and is rebuilt only when its inputs change.
import { execFile } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import {
  closeSync, constants as fsc, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, realpathSync,
  rmSync, statSync, unlinkSync, writeFileSync, writeSync, ftruncateSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** tools/guest (this package). */
export const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The repository root. */
export const REPO_ROOT = resolve(PACKAGE_DIR, '..', '..');
const SCRIPTS = join(PACKAGE_DIR, 'scripts');
const GUEST_FILES = join(PACKAGE_DIR, 'guest');

/**
 * The cache directory of guest images: env VMV_GUEST_DIR, else `<repo>/.vmv-cache/guest`.
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
 */
export function run(cmd, args, opts = {}) {
  return new Promise((res, rej) => {
    execFile(cmd, args, {
      cwd: opts.cwd, env: { ...process.env, ...opts.env }, timeout: opts.timeoutMs ?? 600_000,
      maxBuffer: opts.maxBuffer ?? 256 * 1024 * 1024, encoding: opts.encoding ?? 'utf8', killSignal: 'SIGKILL',
    }, (err, stdout, stderr) => {
      if (err) {
        const text = String(stderr || '').trim() || String(stdout || '').trim();
        const e = new Error(`${cmd} ${args.join(' ')} failed (${err.code ?? err.signal}): ${text.slice(-2000)}`);
        e.stdout = stdout; e.stderr = stderr; e.exitCode = err.code;
        rej(e);
      } else res(stdout);
    });
  });
}

const SBIN_PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;

/**
 * Path of a host executable (PATH plus /usr/sbin and /sbin), or null.
 * @param {string} name
 * @returns {string|null}
 */
export function which(name) {
  for (const d of SBIN_PATH.split(':')) {
    if (!d) continue;
    const p = join(d, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch { /* not there */ }
  }
  return null;
}

function hashFiles(h, dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) hashFiles(h, p);
    else h.update(`${p.slice(PACKAGE_DIR.length)}\0`).update(readFileSync(p)).update('\0');
  }
}

/** Identity of a host binary for the cache key: real path, size and mtime (a package upgrade changes them). */
function binaryIdentity(name) {
  const p = which(name);
  if (!p) return `${name}:missing`;
  const real = realpathSync(p);
  const st = statSync(real);
  return `${name}:${real}:${st.size}:${st.mtimeMs}`;
}

/** A crude cross-process lock (mkdir is atomic); a lock whose owner died is taken over. */
async function withLock(dir, fn) {
  const lock = join(dir, '.lock');
  const deadline = Date.now() + 10 * 60_000;
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
      if (Date.now() > deadline) throw new Error(`guest image: lock ${lock} held by pid ${owner} for 10 minutes`, { cause: e });
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
 * Makes sure the guest kernel and initramfs images exist in the cache directory, building what is missing
 * or out of date (the inputs are hashed: this package's scripts and guest files, the kernel version, the
 * host binaries copied in). A no-op when cached (a few milliseconds).
 * @param {{fio?: boolean, dir?: string, log?: (line: string) => void}} [opts]
 *   fio: also build the benchmark initramfs (fio and its libraries, zstd); log: progress lines
 * @returns {Promise<{dir: string, kernel: string, initrd: string, fioInitrd?: string, kver: string,
 *   kernelPackage: string, built: string[], seconds: number}>}
 * @throws {Error} when a step fails (the message names the step and carries the tool's output)
 * @example
 * const img = await ensureGuestImage({ log: console.log });
 * // img.kernel = .../kernel/vmlinux, img.initrd = .../initramfs-base-<hash>.cpio.gz
 */
export async function ensureGuestImage(opts = {}) {
  const t0 = performance.now();
  const dir = resolve(opts.dir ?? guestCacheDir());
  const log = opts.log ?? (() => {});
  mkdirSync(dir, { recursive: true });
  const built = [];
  const result = await withLock(dir, async () => {
    // 1. kernel: keyed on the fetch script and the requested package
    const kdir = join(dir, 'kernel');
    const kkey = createHash('sha256').update(readFileSync(join(SCRIPTS, 'fetch-kernel.sh')))
      .update(process.env.VMV_GUEST_KERNEL_PKG ?? '').digest('hex');
    const kstamp = join(kdir, '.stamp');
    if (!(existsSync(kstamp) && readFileSync(kstamp, 'utf8') === kkey && existsSync(join(kdir, 'vmlinux')))) {
      log('guest image: fetching the kernel (apt-get download linux-image-amd64 -> vmlinux + modules)');
      await run('bash', [join(SCRIPTS, 'fetch-kernel.sh'), kdir], { cwd: dir });
      writeFileSync(kstamp, kkey);
      built.push('kernel');
    }
    const kver = readFileSync(join(kdir, 'KVER'), 'utf8').trim();
    const kernelPackage = readFileSync(join(kdir, 'PKG'), 'utf8').trim();

    // 2. initramfs images: the file name carries the hash of every input
    const variants = [{ name: 'base', bins: ['mkfs.ext4', 'e2fsck'], comp: 'gzip', ext: 'cpio.gz' }];
    if (opts.fio) variants.push({ name: 'fio', bins: ['mkfs.ext4', 'e2fsck', 'fio'], comp: 'zstd', ext: 'cpio.zst' });
    const out = {};
    for (const v of variants) {
      const h = createHash('sha256');
      h.update(readFileSync(join(SCRIPTS, 'build-initramfs.sh')));
      hashFiles(h, GUEST_FILES);
      h.update(`${kver}\0${kkey}\0${v.comp}\0${binaryIdentity('busybox')}\0`);
      for (const b of v.bins) h.update(`${binaryIdentity(b)}\0`);
      const key = h.digest('hex').slice(0, 16);
      const file = join(dir, `initramfs-${v.name}-${key}.${v.ext}`);
      if (!existsSync(file)) {
        const bins = v.bins.map((b) => {
          const p = which(b);
          if (!p) throw new Error(`guest image: ${b} is not installed (run tools/guest/scripts/install-host-deps.sh)`);
          return p;
        });
        log(`guest image: building the ${v.name} initramfs`);
        await run('bash', [join(SCRIPTS, 'build-initramfs.sh'), '-k', join(kdir, 'kpkg'), '-g', GUEST_FILES,
          '-o', file, '-z', v.comp, ...bins.flatMap((b) => ['-x', b])], { env: { TMPDIR: dir } });
        built.push(`initramfs-${v.name}`);
        for (const old of readdirSync(dir)) {
          if (old.startsWith(`initramfs-${v.name}-`) && join(dir, old) !== file && !old.includes('.tmp.')) {
            rmSync(join(dir, old), { force: true });
          }
        }
      }
      out[v.name] = file;
    }
    return { dir, kernel: join(kdir, 'vmlinux'), initrd: out.base, fioInitrd: out.fio, kver, kernelPackage };
  });
  return { ...result, built, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Creates (or truncates) a raw disk image of `size` bytes. Sparse, except the ranges in `fill`, which get
 * random bytes (`fill: 'all'` fills the whole file, as read benchmarks need: holes read as zeros without I/O).
 * @param {string} path
 * @param {number} size bytes, a multiple of 512
 * @param {{fill?: 'all' | Array<[offset: number, length: number]>}} [opts]
 * @returns {void}
 * @throws {RangeError} when size is not a positive multiple of 512
 * @example
 * createImage('/tmp/disk.raw', 64 << 20, { fill: [[0, 4 << 20]] });
 */
export function createImage(path, size, opts = {}) {
  if (!Number.isSafeInteger(size) || size <= 0 || size % 512 !== 0) {
    throw new RangeError(`createImage: size must be a positive multiple of 512, got ${size}`);
  }
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size);
    const ranges = opts.fill === 'all' ? [[0, size]] : (opts.fill ?? []);
    const chunk = Buffer.allocUnsafe(4 << 20);
    for (const [off, len] of ranges) {
      for (let done = 0; done < len;) {
        const n = Math.min(chunk.length, len - done);
        randomFillSync(chunk, 0, n);
        writeSync(fd, chunk, 0, n, off + done);
        done += n;
      }
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * md5 (hex) of `length` bytes of a file at `offset`, read with ordinary reads.
 * @param {string} path
 * @param {number} offset
 * @param {number} length
 * @returns {string}
 * @example md5Range('/tmp/disk.raw', 0, 4 << 20)
 */
export function md5Range(path, offset, length) {
  const fd = openSync(path, 'r');
  try {
    const h = createHash('md5');
    const buf = Buffer.allocUnsafe(Math.min(length, 4 << 20) || 1);
    for (let done = 0; done < length;) {
      const want = Math.min(buf.length, length - done);
      const n = readSync(fd, buf, 0, want, offset + done);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
      done += n;
    }
    return h.digest('hex');
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether files in `dir` can be opened with O_DIRECT (tmpfs cannot): qemu-storage-daemon's cache.direct=on
 * needs it.
 * @param {string} dir
 * @returns {boolean}
 */
export function supportsODirect(dir) {
  const p = join(dir, `.odirect-probe-${process.pid}`);
  try {
    const fd = openSync(p, fsc.O_CREAT | fsc.O_RDWR | (fsc.O_DIRECT ?? 0), 0o600);
    closeSync(fd);
    return fsc.O_DIRECT !== undefined;
  } catch {
    return false;
  } finally {
    try { unlinkSync(p); } catch { /* never created */ }
  }
}
