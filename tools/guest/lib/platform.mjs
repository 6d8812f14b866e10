// Guest platforms: which QEMU runs the guest, which Debian kernel it boots, where the guest's Debian programs
// come from, and which kernel modules can be added out of tree.
//
//   bookworm  Debian 12 as a user has it: the host's QEMU 7.2 and qemu-storage-daemon, the kernel behind
//             linux-image-amd64 (6.1), guest programs from the host.
//   trixie    a Debian 13 root made with debootstrap under the cache directory: trixie-backports' QEMU 11.1
//             and qemu-storage-daemon, run from the root through the root's own dynamic loader (no chroot, so
//             sockets and images are plain host paths), the trixie-backports kernel (7.x), guest programs from
//             the root, and the virtio drivers Debian does not build (gpio, i2c, spi, can), built out of tree
//             inside the root with the kernel's headers and compiler.
//
// Everything lives under guestCacheDir()/<platform>, keyed by the scripts and the package versions that made
// it: a second run downloads and builds nothing.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { debianMirror } from './apt-sources.mjs';
import { SCRIPTS, guestCacheDir, hashOf, readStamp, run, which, withLock } from './util.mjs';

/** The out-of-tree guest modules the trixie platform builds (see scripts/build-modules.sh). */
export const OUT_OF_TREE_MODULES = ['gpio-virtio', 'i2c-virtio', 'spi-virtio', 'virtio_can'];

/** Test modules of ours (tools/guest/modules/NAME.c), built for the trixie kernel, loaded by a test with insmod. */
export const TEST_MODULES = ['vmv_level_irq'];
const TEST_MODULE_SRC = join(SCRIPTS, '..', 'modules');

/**
 * @typedef {object} Platform
 * @property {'bookworm'|'trixie'} name
 * @property {string} title
 * @property {string} dir  its cache directory
 * @property {string} qemu  qemu-system-x86_64 to run (a wrapper script for trixie)
 * @property {string} qsd  qemu-storage-daemon to run
 * @property {string|null} root  the platform root (trixie), null when programs come from the host
 * @property {{dir: string, vmlinux: string, vmlinuz: string, kroot: string, kver: string, version: string, package: string}} kernel
 * @property {string[]} baseModules  modules every guest of this platform loads at boot
 * @property {string[]} hostPackages  the host packages this platform needs (install-host-deps.sh names)
 * @property {(pkgs: string[], log?: (l: string) => void) => Promise<void>} ensurePackages  make Debian packages' programs available
 * @property {(name: string) => string|null} findProgram  host path of a program of the platform's userland
 * @property {(names: string[], log?: (l: string) => void) => Promise<Record<string, string>>} ensureModules  out-of-tree modules, built and
 *   added to the kernel's module tree; resolves with their paths
 * @property {(name: string, log?: (l: string) => void) => Promise<string>} ensureTestModule  a test module of ours
 *   (TEST_MODULES), built; resolves with its path in the platform's userland (an initramfs `data` path)
 */

const DEFS = {
  bookworm: {
    title: "Debian 12: the host's QEMU 7.2 and qemu-storage-daemon, kernel 6.1",
    baseModules: ['virtio_mmio', 'virtio_pci', 'virtio_blk', 'virtio_rng', 'virtio_console', 'crc32c_generic', 'ext4'],
    hostPackages: ['qemu-system-x86', 'qemu-system-common', 'qemu-utils'],
  },
  trixie: {
    title: "Debian 13 root: trixie-backports' QEMU 11.1 and kernel 7.x, out-of-tree gpio/i2c/spi/can drivers",
    suite: 'trixie',
    // qemu-utils holds qemu-storage-daemon in Debian 13; e2fsprogs gives the guest mkfs.ext4 and e2fsck
    rootPackages: ['qemu-system-x86', 'qemu-utils', 'e2fsprogs'],
    baseModules: ['virtio_mmio', 'virtio_pci', 'virtio_blk', 'virtio_rng', 'virtio_console', 'ext4'],
    hostPackages: ['debootstrap'],
  },
};

/** Every platform name, in the order `all` runs them. */
export const PLATFORM_NAMES = Object.keys(DEFS);

/**
 * Turns `--platform` into platform names: `all` (default), one name, or a comma list.
 * @param {string} [spec='all']
 * @returns {string[]}
 * @throws {TypeError} on an unknown name
 * @example platformNames('trixie') // ['trixie']
 */
export function platformNames(spec = 'all') {
  const names = spec === 'all' ? PLATFORM_NAMES : spec.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!DEFS[n]) throw new TypeError(`unknown platform ${JSON.stringify(n)} (${PLATFORM_NAMES.join(', ')} or all)`);
  return [...new Set(names)];
}

/**
 * The host packages a platform needs besides the common ones (for install-host-deps.sh).
 * @param {string} name
 * @returns {string[]}
 */
export function platformHostPackages(name) {
  return DEFS[name].hostPackages;
}

const cached = new Map();

/**
 * Makes a platform ready (root, QEMU, kernel) and describes it. Cached after the first call in a process, and
 * on disk across processes. Holds the platform's cache lock while it builds.
 * @param {string} name  bookworm | trixie
 * @param {{log?: (line: string) => void}} [opts]
 * @returns {Promise<Platform>}
 * @throws {Error} with one line naming what is missing and how to get it
 * @example const p = await ensurePlatform('trixie', { log: console.log }); // p.qemu, p.kernel.vmlinux
 */
export async function ensurePlatform(name, opts = {}) {
  platformNames(name);
  if (!cached.has(name)) {
    const p = (name === 'trixie' ? ensureRootPlatform : ensureHostPlatform)(name, opts.log ?? (() => {}));
    cached.set(name, p);
    p.catch(() => cached.delete(name));
  }
  return cached.get(name);
}

async function ensureHostPlatform(name, log) {
  const def = DEFS[name];
  const dir = join(guestCacheDir(), name);
  const kernel = await withLock(dir, () => ensureKernel(dir, { log }));
  return {
    name, title: def.title, dir, root: null, kernel, baseModules: def.baseModules, hostPackages: def.hostPackages,
    qemu: process.env.VMV_GUEST_QEMU ?? 'qemu-system-x86_64',
    qsd: process.env.VMV_GUEST_QSD ?? 'qemu-storage-daemon',
    findProgram: (prog) => which(prog),
    ensurePackages: (pkgs, l = log) => installHostPackages(pkgs, l),
    ensureModules: async (names) => {
      if (names.length) throw new Error(`the ${name} platform builds no out-of-tree modules (asked for ${names.join(', ')}): use --platform trixie`);
      return {};
    },
    ensureTestModule: async (m) => {
      throw new Error(`the ${name} platform builds no test modules (asked for ${m}): use --platform trixie`);
    },
  };
}

async function ensureRootPlatform(name, log) {
  const def = DEFS[name];
  const dir = join(guestCacheDir(), name);
  const root = join(dir, 'root');
  const kernel = await withLock(dir, async () => {
    const key = hashOf([{ file: join(SCRIPTS, 'make-root.sh') }, { file: join(SCRIPTS, 'root-lib.sh') }, def.suite, def.rootPackages.join(' ')]);
    const stamp = join(dir, 'root.stamp');
    if (readStamp(stamp) !== key || !existsSync(join(root, 'usr', 'bin', 'qemu-system-x86_64'))) {
      if (process.getuid?.() !== 0) throw new Error(`the ${name} platform is not built yet and building it needs root (debootstrap, chroot): run once as root, or use --platform bookworm`);
      const mirror = debianMirror();
      log(`${name}: building the Debian ${def.suite} root (debootstrap from the host's archive, then ${def.rootPackages.join(', ')} from ${def.suite}-backports); about a minute`);
      await runScript('make-root.sh', [root + '.new', mirror, def.suite, def.rootPackages.join(' ')], `building the ${name} root`);
      rmSync(stamp, { force: true });
      await removeRoot(root);
      await run('mv', [root + '.new', root]);
      writeFileSync(stamp, key);
    }
    writeWrappers(dir, root);
    return ensureKernel(dir, { root, suite: `${def.suite}-backports`, log });
  });
  const modulesDir = join(kernel.dir, 'vmv-modules');
  return {
    name, title: def.title, dir, root, kernel, baseModules: def.baseModules, hostPackages: def.hostPackages,
    qemu: join(dir, 'bin', 'qemu-system-x86_64'),
    qsd: join(dir, 'bin', 'qemu-storage-daemon'),
    findProgram: (prog) => which(prog, root),
    ensurePackages: (pkgs, l = log) => withLock(dir, async () => {
      const missing = pkgs.filter((p) => !existsSync(join(root, 'var', 'lib', 'vmv-packages', p)));
      if (!missing.length) return;
      if (process.getuid?.() !== 0) throw new Error(`adding ${missing.join(', ')} to the ${name} root needs root (chroot)`);
      l(`${name}: adding ${missing.join(', ')} to the root`);
      await runScript('root-packages.sh', [root, ...missing], `adding ${missing.join(', ')} to the ${name} root`);
    }),
    ensureModules: async (names, l = log) => {
      for (const m of names) if (!OUT_OF_TREE_MODULES.includes(m)) throw new Error(`no recipe for the out-of-tree module ${m} (${OUT_OF_TREE_MODULES.join(', ')})`);
      if (names.length === 0) return {};
      await withLock(dir, async () => {
        const key = hashOf([{ file: join(SCRIPTS, 'build-modules.sh') }, { file: join(SCRIPTS, 'root-lib.sh') }, kernel.key, OUT_OF_TREE_MODULES.join(' ')]);
        const stamp = join(kernel.dir, 'vmv-modules.stamp');
        if (readStamp(stamp) === key) return;
        if (process.getuid?.() !== 0) throw new Error(`building ${OUT_OF_TREE_MODULES.join(', ')} for ${kernel.kver} needs root (chroot)`);
        l(`${name}: building ${OUT_OF_TREE_MODULES.join(', ')} out of tree for ${kernel.kver} (linux-source, headers and gcc in the root)`);
        await runScript('build-modules.sh', ['-r', root, '-k', kernel.dir, '-o', modulesDir, ...OUT_OF_TREE_MODULES], `building the guest modules`);
        // into the kernel's module tree, so that modprobe --show-depends resolves them and their dependencies
        const updates = join(kernel.kroot, 'lib', 'modules', kernel.kver, 'updates', 'vmv');
        rmSync(updates, { recursive: true, force: true });
        mkdirSync(updates, { recursive: true });
        await run('sh', ['-c', 'cp "$1"/*.ko "$2"/', 'sh', modulesDir, updates]);
        await run(which('depmod') ?? 'depmod', ['-b', kernel.kroot, kernel.kver]);
        writeFileSync(stamp, key);
      });
      return Object.fromEntries(names.map((m) => [m, join(modulesDir, `${m}.ko`)]));
    },
    ensureTestModule: async (m, l = log) => {
      if (!TEST_MODULES.includes(m)) throw new Error(`no test module ${m} (${TEST_MODULES.join(', ')})`);
      const src = join(TEST_MODULE_SRC, `${m}.c`);
      const guestDir = `/usr/local/lib/vmv-test-modules/${kernel.kver}`;
      const out = join(root, guestDir, m);
      await withLock(dir, async () => {
        const key = hashOf([{ file: join(SCRIPTS, 'build-modules.sh') }, { file: join(SCRIPTS, 'root-lib.sh') }, { file: src }, kernel.key]);
        const stamp = join(out, 'stamp');
        if (readStamp(stamp) === key) return;
        if (process.getuid?.() !== 0) throw new Error(`building ${m} for ${kernel.kver} needs root (chroot)`);
        l(`${name}: building the test module ${m} for ${kernel.kver}`);
        await runScript('build-modules.sh', ['-r', root, '-k', kernel.dir, '-o', out, src], `building ${m}`);
        writeFileSync(stamp, key);
      });
      return `${guestDir}/${m}/${m}.ko`;
    },
  };
}

/** Runs a script of tools/guest/scripts; on failure, one line: what was being done and the script's last words. */
async function runScript(script, args, what) {
  try {
    return await run('bash', [join(SCRIPTS, script), ...args]);
  } catch (e) {
    const last = String(e.stderr || '').trim().split('\n').filter(Boolean).pop() ?? e.message;
    throw new Error(`${what} failed: ${last}`, { cause: e });
  }
}

async function removeRoot(path) {
  if (!existsSync(path)) return;
  await run('bash', ['-c', `. "${join(SCRIPTS, 'root-lib.sh')}"; remove_root "$1"`, 'remove-root', path]);
}

/** Wrapper scripts that run the root's QEMU programs through the root's loader and libraries. */
function writeWrappers(dir, root) {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const q = (s) => `'${s.replace(/'/g, "'\\''")}'`;
  const wrap = (prog, extra) => `#!/bin/sh
# ${prog} of the trixie root (${root}), run through the root's own dynamic loader and libraries: no chroot,
# so every path QEMU opens (sockets, images, kernels) is a host path. Written by tools/guest/lib/platform.mjs.
R=${q(root)}
QEMU_MODULE_DIR="$R/usr/lib/x86_64-linux-gnu/qemu" exec "$R/lib64/ld-linux-x86-64.so.2" \\
  --library-path "$R/usr/lib/x86_64-linux-gnu" --argv0 ${prog} "$R/usr/bin/${prog}"${extra} "$@"
`;
  for (const [prog, extra] of [['qemu-system-x86_64', ' -L "$R/usr/share/qemu" -L "$R/usr/share/seabios"'], ['qemu-storage-daemon', ''], ['qemu-img', '']]) {
    const p = join(bin, prog);
    const text = wrap(prog, extra);
    if (readStamp(p) !== text) {
      writeFileSync(p, text);
      chmodSync(p, 0o755);
    }
  }
}

/**
 * The kernel of a platform, fetched once per package version (scripts/fetch-kernel.sh).
 * @returns {Promise<Platform['kernel'] & {key: string}>}
 */
async function ensureKernel(dir, { root, suite, log }) {
  // what linux-image-amd64 resolves to now, from the apt lists alone (no download)
  const resolveArgs = root ? ['chroot', root, 'apt-cache'] : ['apt-cache'];
  let image = root ? '' : (process.env.VMV_GUEST_KERNEL_PKG ?? '');
  if (!image) {
    try {
      const out = await run(resolveArgs[0], [...resolveArgs.slice(1), 'show', '--no-all-versions', `linux-image-amd64${suite ? `/${suite}` : ''}`]);
      image = /^Depends:.*?\b(linux-image-[0-9][^ ,]*)/m.exec(out)?.[1] ?? '';
      image += ` ${/^Version: (\S+)/m.exec(out)?.[1] ?? ''}`;
    } catch { /* no lists yet: fetch-kernel.sh updates them or says what to do */ }
  }
  const kdir = join(dir, 'kernel');
  const key = hashOf([{ file: join(SCRIPTS, 'fetch-kernel.sh') }, { file: join(SCRIPTS, 'root-lib.sh') }, image, suite ?? '']);
  const stamp = join(kdir, '.stamp');
  if (readStamp(stamp) !== key || !existsSync(join(kdir, 'vmlinux'))) {
    log(`${root ? 'trixie' : 'bookworm'}: fetching the kernel (${image.trim() || 'linux-image-amd64'}: apt-get download, vmlinux + modules)`);
    await runScript('fetch-kernel.sh', [kdir, ...(root ? ['-r', root, '-s', suite] : [])], 'fetching the guest kernel');
    writeFileSync(stamp, key);
  }
  const read = (f) => readFileSync(join(kdir, f), 'utf8').trim();
  return {
    dir: kdir, vmlinux: join(kdir, 'vmlinux'), vmlinuz: join(kdir, 'vmlinuz'), kroot: join(kdir, 'kpkg'), kver: read('KVER'), version: existsSync(join(kdir, 'VERSION')) ? read('VERSION') : '',
    package: read('PKG'), key,
  };
}

/** apt-get install on the host (root only), for the bookworm platform's guest programs. */
async function installHostPackages(pkgs, log) {
  const missing = [];
  for (const p of pkgs) {
    try {
      const st = await run('dpkg-query', ['-W', '-f', '${Status}', p]);
      if (!st.includes('install ok installed')) missing.push(p);
    } catch {
      missing.push(p);
    }
  }
  if (!missing.length) return;
  if (process.getuid?.() !== 0) throw new Error(`the guest needs the host packages ${missing.join(' ')}: apt-get install --no-install-recommends ${missing.join(' ')} (as root)`);
  log(`bookworm: installing ${missing.join(', ')} on the host (apt-get)`);
  const apt = ['-q', '-y', '-o', 'DPkg::Lock::Timeout=300', '-o', 'Dpkg::Use-Pty=0'];
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await run('apt-get', [...apt, 'install', '--no-install-recommends', ...missing], { env });
  } catch {
    await run('apt-get', [...apt, 'update'], { env }).catch(() => {});
    try {
      await run('apt-get', [...apt, 'install', '--no-install-recommends', ...missing], { env });
    } catch (e) {
      throw new Error(`apt-get install ${missing.join(' ')} failed: ${e.lastLine ?? e.message}`, { cause: e });
    }
  }
}
