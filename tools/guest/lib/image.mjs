// The guest image of a platform: its kernel (PVH vmlinux + modules) and initramfs archives built from this
// package's scripts: a base archive per platform (busybox, the base modules, /init and the guest tests), and
// small archives a test appends (more modules, Debian programs). Everything lives in the platform's cache
// directory and is rebuilt only when its inputs change.
import { randomFillSync } from 'node:crypto';
import {
  appendFileSync, closeSync, constants as fsc, copyFileSync, existsSync, openSync, readdirSync, readFileSync, readSync, renameSync,
  rmSync, statSync, unlinkSync, writeSync, ftruncateSync,
} from 'node:fs';
import { join } from 'node:path';
import { OUT_OF_TREE_MODULES, ensurePlatform } from './platform.mjs';
import { PACKAGE_DIR, SCRIPTS, fileIdentity, hashOf, hashTree, run, which, withLock } from './util.mjs';
import { createHash } from 'node:crypto';

export { PACKAGE_DIR, REPO_ROOT, guestCacheDir, run, which } from './util.mjs';

const GUEST_FILES = join(PACKAGE_DIR, 'guest');

/**
 * @typedef {object} GuestImage
 * @property {import('./platform.mjs').Platform} platform
 * @property {string} dir  the platform's cache directory
 * @property {string} kernel  the PVH vmlinux QEMU boots
 * @property {string} initrd  the base initramfs
 * @property {string} [fioInitrd]  the base initramfs plus fio (the guest benchmark's)
 * @property {string} kver
 * @property {string} kernelPackage
 * @property {string[]} built  what this call built
 * @property {number} seconds
 */

/** Where a platform's programs live for build-initramfs.sh: [-R root] and the guest path of a program. */
function programArgs(platform, names) {
  const args = platform.root ? ['-R', platform.root] : [];
  const ids = [];
  for (const name of names) {
    const host = platform.findProgram(name);
    if (!host) throw new Error(`guest image: ${name} is not in the ${platform.name} platform's userland (which Debian package has it?)`);
    args.push('-x', platform.root ? host.slice(platform.root.length) : host);
    ids.push(`${name}:${fileIdentity(host)}`);
  }
  return { args, ids };
}

/**
 * Makes sure a platform's guest kernel and base initramfs exist in its cache directory (and the platform itself:
 * see ensurePlatform), building what is missing or out of date. A no-op when cached (a few milliseconds).
 * @param {{platform?: string, fio?: boolean, log?: (line: string) => void}} [opts]
 *   platform: bookworm (default) | trixie; fio: also build the benchmark initramfs (fio inside, zstd)
 * @returns {Promise<GuestImage>}
 * @throws {Error} when a step fails (one line naming the step and what is missing)
 * @example
 * const img = await ensureGuestImage({ platform: 'trixie', log: console.log });
 * // img.kernel = .../trixie/kernel/vmlinux, img.initrd = .../trixie/initramfs-base-<hash>.cpio.gz
 */
export async function ensureGuestImage(opts = {}) {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const platform = await ensurePlatform(opts.platform ?? 'bookworm', { log });
  const built = [];
  if (opts.fio && platform.root) await platform.ensurePackages(['fio'], log);
  const out = await withLock(platform.dir, async () => {
    const variants = [{ name: 'base', progs: ['mkfs.ext4', 'e2fsck'], comp: 'gzip', ext: 'cpio.gz' }];
    if (opts.fio) variants.push({ name: 'fio', progs: ['mkfs.ext4', 'e2fsck', 'fio'], comp: 'zstd', ext: 'cpio.zst' });
    const files = {};
    for (const v of variants) {
      const { args, ids } = programArgs(platform, v.progs);
      const key = hashTree(createHash('sha256'), GUEST_FILES)
        .update(hashOf([{ file: join(SCRIPTS, 'build-initramfs.sh') }, platform.kernel.key, v.comp, fileIdentity(which('busybox')),
          platform.baseModules.join(' '), ...ids])).digest('hex').slice(0, 16);
      const file = join(platform.dir, `initramfs-${v.name}-${key}.${v.ext}`);
      if (!existsSync(file)) {
        if (!which('busybox')) throw new Error('guest image: busybox is not installed (run tools/guest/scripts/install-host-deps.sh)');
        log(`guest image (${platform.name}): building the ${v.name} initramfs`);
        await run('bash', [join(SCRIPTS, 'build-initramfs.sh'), '-k', platform.kernel.kroot, '-g', GUEST_FILES, '-o', file, '-z', v.comp,
          '-m', platform.baseModules.join(' '), ...args], { env: { TMPDIR: platform.dir } });
        built.push(`initramfs-${v.name}`);
        for (const old of readdirSync(platform.dir)) {
          if (old.startsWith(`initramfs-${v.name}-`) && join(platform.dir, old) !== file && !old.includes('.tmp.')) rmSync(join(platform.dir, old), { force: true });
        }
      }
      files[v.name] = file;
    }
    return files;
  });
  return {
    platform, dir: platform.dir, kernel: platform.kernel.vmlinux, initrd: out.base, fioInitrd: out.fio, kver: platform.kernel.kver,
    kernelPackage: platform.kernel.package, built, seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * The initramfs a test boots: the platform's base archive, plus (when the test needs them) one appended archive
 * with more modules loaded at boot (Debian's, or the out-of-tree ones the trixie platform builds) and Debian
 * programs with their libraries. Built once per set, cached.
 * @param {GuestImage} img  from ensureGuestImage
 * @param {{modules?: string[], packages?: string[], programs?: string[], data?: string[], fio?: boolean, log?: (line: string) => void}} [needs]
 *   modules: loaded at boot after the base ones, in this order (dependencies first); packages: Debian packages
 *   to make available (host apt on bookworm, the root on trixie); programs: program names to copy in; data: files
 *   or directories the programs read (absolute paths in the platform's userland, copied to the same paths); fio: on
 *   the benchmark archive (img.fioInitrd, from ensureGuestImage({fio: true})) instead of the base one
 * @returns {Promise<string>} the initramfs path
 * @example await guestInitrd(img, { modules: ['gpio-virtio'], packages: ['gpiod'], programs: ['gpiodetect'] })
 */
export async function guestInitrd(img, needs = {}) {
  const modules = needs.modules ?? [];
  const programs = needs.programs ?? [];
  const data = needs.data ?? [];
  const log = needs.log ?? (() => {});
  const baseFile = needs.fio ? img.fioInitrd : img.initrd;
  if (!baseFile) throw new Error('guestInitrd: the fio initramfs was not built (ensureGuestImage({fio: true}))');
  if (modules.length === 0 && programs.length === 0 && data.length === 0) return baseFile;
  const platform = img.platform;
  if (needs.packages?.length) await platform.ensurePackages(needs.packages, log);
  const oot = modules.filter((m) => OUT_OF_TREE_MODULES.includes(m));
  if (oot.length) await platform.ensureModules(oot, log);
  return withLock(platform.dir, async () => {
    const { args, ids } = programArgs(platform, programs);
    for (const d of data) {
      const path = join(platform.root ?? '/', d);
      if (!existsSync(path)) throw new Error(`guest image: ${d} is not in the ${platform.name} platform's userland`);
      args.push('-D', d);
      ids.push(`${d}:${statSync(path).isDirectory() ? hashTree(createHash('sha256'), path).digest('hex') : fileIdentity(path)}`);
    }
    const ootKey = oot.length ? fileIdentity(join(platform.kernel.dir, 'vmv-modules.stamp')) : '';
    const key = hashOf([{ file: join(SCRIPTS, 'build-initramfs.sh') }, platform.kernel.key, ootKey, modules.join(' '), ...ids]).slice(0, 16);
    const extra = join(platform.dir, `initramfs-extra-${key}.cpio.gz`);
    const [, variant, base] = baseFile.match(/initramfs-(base|fio)-([0-9a-f]+)/);
    const combined = join(platform.dir, variant === 'base' ? `initramfs-test-${base}-${key}.cpio.gz` : `initramfs-test-fio-${base}-${key}.cpio`);
    if (existsSync(combined)) return combined;
    if (!existsSync(extra)) {
      log(`guest image (${platform.name}): building an archive with ${[...modules, ...programs].join(', ')}`);
      await run('bash', [join(SCRIPTS, 'build-initramfs.sh'), '-k', platform.kernel.kroot, '-E', 'test', '-o', extra,
        '-m', modules.join(' '), ...args], { env: { TMPDIR: platform.dir } });
    }
    // the kernel unpacks concatenated archives one after the other (their files do not overlap). fio's archive is
    // zstd and goes last: it then need not tell where its stream ends, only gzip's must
    const tmp = `${combined}.tmp.${process.pid}`;
    const [first, second] = variant === 'base' ? [baseFile, extra] : [extra, baseFile];
    copyFileSync(first, tmp);
    appendFileSync(tmp, readFileSync(second));
    renameSync(tmp, combined);
    return combined;
  });
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
