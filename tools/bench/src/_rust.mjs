// The rust-vmm side of `pnpm bench memory --vs-rust` and `pnpm bench queue --vs-rust`: builds ../rust (the same
// workloads on rust-vmm's vm-memory and virtio-queue) once and runs it, one case per call.
//
// Where cargo and the crates come from: the guest harness's Debian 13 root (tools/guest, ensurePlatform('trixie'),
// under VMV_GUEST_DIR), to which ensurePackages adds Debian's cargo, rustc and gcc and the crate sources
// librust-vm-memory-dev and librust-virtio-queue-dev (their librust-* dependencies come with them). cargo runs
// in that root with chroot, offline, with crates.io replaced by Debian's directory source
// /usr/share/cargo/registry; the host's own Rust toolchain, if any, is never used. The binary is cached under
// <platform dir>/bench-rust/<key>, the key being the harness source, the cargo configuration and command, and
// the versions of every package the build used; it runs on the host through the root's dynamic loader and
// libraries (no chroot). Building the root, adding the packages and building the binary need root.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HARNESS = join(dirname(fileURLToPath(import.meta.url)), '..', 'rust');
const HARNESS_FILES = ['Cargo.toml', join('src', 'main.rs')];
/** The crate sources (ensurePackages installs their librust-* dependencies with apt). */
const CRATES = ['librust-vm-memory-dev', 'librust-virtio-queue-dev'];
/**
 * cargo, rustc and what rustc links with: the gcc driver (gcc -> gcc-14, trixie's), collect2 and cc1, and ld.
 * ensurePackages unpacks the packages it is given and installs only their lib* dependencies with apt, so the
 * toolchain's own packages are named here; those dpkg already installed in the root (build-modules.sh installs
 * gcc-14) are left alone. (root-packages.sh stops without a word when none of the packages it is given has a
 * lib* dependency; in a fresh root, or one with build-modules.sh's gcc-14, cargo is among the missing ones.)
 */
const TOOLCHAIN = ['cargo', 'rustc', 'gcc', 'gcc-14', 'gcc-14-x86-64-linux-gnu', 'cpp-14-x86-64-linux-gnu', 'binutils', 'binutils-x86-64-linux-gnu'];

const BIN = 'vmv-rust-bench';
const BUILD = 'cargo build --release --offline --quiet';

// crates.io replaced by Debian's packaged sources; `cc` is an alternative that unpacking gcc does not create.
const CARGO_CONFIG = `[source.crates-io]
replace-with = "debian"
[source.debian]
directory = "/usr/share/cargo/registry"
[net]
offline = true
[target.x86_64-unknown-linux-gnu]
linker = "gcc"
`;

/** The packages dpkg installed in the root, name -> version. */
function dpkgInstalled(root) {
  const out = execFileSync('dpkg-query', ['--admindir', join(root, 'var', 'lib', 'dpkg'), '-W', '-f', '${db:Status-Abbrev}|${Package}|${Version}\n'], { encoding: 'utf8' });
  return new Map(out.split('\n').filter((l) => l.startsWith('ii')).map((l) => l.split('|').slice(1)));
}

/** The version of a package in the root: unpacked by ensurePackages, or installed by dpkg. */
function versionIn(root, installed, pkg) {
  const stamp = join(root, 'var', 'lib', 'vmv-packages', pkg);
  return existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : (installed.get(pkg) ?? 'missing');
}

/** The versions of what a build uses: the toolchain, the crates and every librust-* / libstd-rust package. */
function packageVersions(root) {
  const installed = dpkgInstalled(root);
  const rust = [...installed.keys()].filter((p) => /^(librust-|libstd-rust)/.test(p)).sort();
  return [...new Set([...TOOLCHAIN, ...CRATES, ...rust])].map((p) => `${p} ${versionIn(root, installed, p)}`);
}

/**
 * A C library's memmove choice for 4 KiB copies (why it matters: tools/bench's README, "--vs-rust"): glibc's version
 * and, on x86, the size from which it copies with `rep movsb` (x86.cpu_features.rep_movsb_threshold of the loader's
 * `--list-diagnostics`, which reflects GLIBC_TUNABLES).
 * @param {string} loader - the dynamic loader.
 * @param {string[]} [pre] - its arguments before --list-diagnostics (e.g. --library-path).
 * @returns {string} e.g. "glibc 2.36, rep movsb from 2112 B", or "unknown C library" when the loader cannot say.
 */
function libcCopies(loader, pre = []) {
  let out;
  try {
    out = execFileSync(loader, [...pre, '--list-diagnostics'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return 'unknown C library';
  }
  const version = /^version\.version="([^"]+)"/m.exec(out)?.[1];
  const threshold = /^x86\.cpu_features\.rep_movsb_threshold=(0x[0-9a-f]+)/m.exec(out)?.[1];
  if (version === undefined) return 'unknown C library';
  return `glibc ${version}${threshold === undefined ? '' : `, rep movsb from ${Number(threshold)} B`}`;
}

function missing(what) {
  return new Error(`--vs-rust: ${what}`);
}

/**
 * Makes the Rust harness ready (root, packages, binary; each built once) and returns a runner for it.
 * @param {{log?: (line: string) => void, hugePages?: boolean}} [opts] - hugePages: every run gets --huge-pages
 * @returns {Promise<{versions: {vmMemory: string, virtioQueue: string, rustc: string}, run: (args: string[]) => object}>}
 * @throws {Error} one line naming what is missing (not root, no root, no package, a failed build)
 */
export async function ensureRustHarness({ log = (l) => console.error(l), hugePages = false } = {}) {
  const extra = hugePages ? ['--huge-pages'] : [];
  let guest;
  try {
    guest = await import('@vmv-tools/guest');
  } catch (e) {
    throw missing(`cannot load tools/guest (the Debian root comes from its platform code): ${e.message}`);
  }
  let platform;
  try {
    platform = await guest.ensurePlatform('trixie', { log });
    const installed = dpkgInstalled(platform.root);
    await platform.ensurePackages([...TOOLCHAIN.filter((p) => !installed.has(p)), ...CRATES], log);
  } catch (e) {
    // (the guest harness's advice to use the bookworm platform does not apply here)
    throw missing(`no cargo and rust-vmm sources (Debian trixie root with ${[...TOOLCHAIN, ...CRATES].join(', ')}): ${e.message.replace(/, or use --platform \w+$/, '')}`);
  }
  const { root, dir } = platform;
  const loader = join(root, 'lib64', 'ld-linux-x86-64.so.2');
  const libs = join(root, 'usr', 'lib', 'x86_64-linux-gnu');
  const versions = packageVersions(root);
  const h = createHash('sha256');
  for (const f of HARNESS_FILES) h.update(`${f}\0`).update(readFileSync(join(HARNESS, f))).update('\0');
  h.update(CARGO_CONFIG).update('\0').update(BUILD).update('\0').update(versions.join('\n'));
  const key = h.digest('hex').slice(0, 16);
  const cacheDir = join(dir, 'bench-rust', key);
  const bin = join(cacheDir, BIN);
  if (!existsSync(bin)) {
    if (process.getuid?.() !== 0) throw missing(`the Rust harness is not built yet and building it needs root (chroot into ${root})`);
    const work = `/var/tmp/vmv-bench-rust.${process.pid}`;
    const hostWork = join(root, work);
    rmSync(hostWork, { recursive: true, force: true });
    mkdirSync(join(hostWork, '.cargo'), { recursive: true });
    for (const f of HARNESS_FILES) cpSync(join(HARNESS, f), join(hostWork, f), { recursive: true });
    writeFileSync(join(hostWork, '.cargo', 'config.toml'), CARGO_CONFIG);
    log(`--vs-rust: building the rust-vmm harness (cargo build --release, LTO, in ${root}); a minute or two, once`);
    try {
      execFileSync('chroot', [root, '/usr/bin/env', '-i', 'PATH=/usr/bin:/bin', `HOME=${work}`, `CARGO_HOME=${work}/.cargo-home`,
        'sh', '-c', `cd ${work} && ${BUILD}`], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
      mkdirSync(cacheDir, { recursive: true });
      cpSync(join(hostWork, 'target', 'release', BIN), `${bin}.new`);
      writeFileSync(join(cacheDir, 'versions'), `${versions.join('\n')}\n`);
      renameSync(`${bin}.new`, bin);
    } catch (e) {
      const last = String(e.stderr ?? '').trim().split('\n').slice(-3).join(' / ') || e.message;
      throw missing(`building the Rust harness in ${root} failed: ${last}`);
    } finally {
      rmSync(hostWork, { recursive: true, force: true });
    }
  }
  const version = (p) => versions.find((v) => v.startsWith(`${p} `))?.split(' ')[1] ?? '?';
  // Node's own loader (its PT_INTERP on this host) and the root's, each given this process's environment.
  const copies = `memmove: ours ${libcCopies('/lib64/ld-linux-x86-64.so.2')}; rust-vmm's ${libcCopies(loader, ['--library-path', libs])}`
    + ' (GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold=N on this command sets both)';
  return {
    versions: { vmMemory: version('librust-vm-memory-dev'), virtioQueue: version('librust-virtio-queue-dev'), rustc: version('rustc') },
    /** The C library's memmove on each side (a line for the table's header). */
    copies,
    /** Runs one case of the harness (blocking); returns its JSON line, parsed. Throws if a check of the harness failed. */
    run(args) {
      const out = execFileSync(loader, ['--library-path', libs, bin, ...args, ...extra], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      return JSON.parse(out.trim().split('\n').pop());
    },
  };
}

/**
 * Guest memory for the JS side of memory.mjs and queue.mjs, made the way the Rust harness's GuestMemoryMmap makes
 * it: one private anonymous mapping (@vmv/sys mmapAnonymous: page aligned, zero on first touch), advised
 * MADV_HUGEPAGE with `--huge-pages` on both sides (../rust does the same madvise on its mapping). A plain
 * `new ArrayBuffer` is calloc'ed: its first byte sits 16 bytes past a page boundary, so every 4 KiB access
 * straddles two pages, and it can never have huge pages in the kernel's `madvise` mode.
 * @param {number} size
 * @param {string[]} args - the benchmark's arguments (`--huge-pages`)
 * @returns {Promise<{buffer: ArrayBuffer, hugePages: boolean, describe: string}>}
 */
export async function guestRam(size, args) {
  const { mmapAnonymous } = await import('@vmv/sys');
  const hugePages = args.includes('--huge-pages');
  const buffer = mmapAnonymous(size, { hugePages }).buffer;
  let thp = 'unknown';
  try {
    thp = /\[(\w+)\]/.exec(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))?.[1] ?? thp;
  } catch {
    // no THP in this kernel
  }
  const describe = `guest memory: private anonymous mmap on both sides, ${hugePages ? 'advised MADV_HUGEPAGE (--huge-pages)' : 'not advised (--huge-pages advises MADV_HUGEPAGE)'}; transparent_hugepage/enabled = ${thp}`;
  return { buffer, hugePages, describe };
}

/**
 * The `--vs-rust [--rounds=N]` options of a benchmark (with `--huge-pages`, the Rust harness advises its guest
 * memory MADV_HUGEPAGE, as {@link guestRam} does ours): without --vs-rust, `{rust: null, rounds: 1}`; with it, the
 * ready harness and N, how many times each case runs on each side, alternating (JS, Rust, JS, Rust, ...; default
 * 2). When the harness cannot be had or N is not a whole number >= 1, prints why, sets exit code 1 and returns
 * null.
 * @param {string[]} args
 * @returns {Promise<{rust: Awaited<ReturnType<typeof ensureRustHarness>>|null, rounds: number}|null>}
 */
export async function vsRustOption(args) {
  if (!args.includes('--vs-rust')) return { rust: null, rounds: 1 };
  try {
    const a = args.find((x) => x.startsWith('--rounds='));
    const rounds = a === undefined ? 2 : Number(a.slice('--rounds='.length));
    if (!Number.isInteger(rounds) || rounds < 1) throw new TypeError(`--vs-rust: --rounds takes a whole number >= 1 (got ${a})`);
    return { rust: await ensureRustHarness({ hugePages: args.includes('--huge-pages') }), rounds };
  } catch (e) {
    console.error(e.message);
    process.exitCode = 1;
    return null;
  }
}
