#!/usr/bin/env node
// The main job (`npm run demo`): a real Linux guest whose disk is served by our TypeScript daemon,
// vmv-vhost-user-blk (@vmv/block's virtio-blk device behind @vmv/vhost-user), over vhost-user.
//
//   1. host packages: installs what is missing (root + apt-get), or names exactly what is missing
//   2. guest image: Debian's kernel + a busybox initramfs (built once, cached), plus this demo's workload
//   3. a sparse raw disk image
//   4. vmv-vhost-user-blk on that image, then QEMU (microvm, virtio-mmio, 2 request queues) booting Linux;
//      the guest's own virtio_blk driver runs the workload in guest/demo.sh while its progress streams here
//   5. checks on the host once everything has stopped: the image file against the guest's checksums,
//      e2fsck, each file read back with debugfs, clean exits of QEMU and of the daemon
// Every process started here is stopped before the end, also on failure and on Ctrl-C.
//
// Options: --verbose (the whole guest console), --machine microvm|q35, --queues N, --keep (keep the logs),
//          --compare (run the same workload on qemu-storage-daemon too and print the ratios).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import {
  VMV_DAEMON_BIN, bootGuest, createImage, detectAccel, ensureGuestImage, ensureHostDeps, md5Range, qsdBackend, vmvCommand,
} from '@vmv-tools/guest';

const HERE = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const verbose = args.includes('--verbose');
const keep = args.includes('--keep');
const compare = args.includes('--compare');
const machine = opt('--machine', 'microvm');
const queues = Number(opt('--queues', '2'));
const DISK_MIB = 768;
const FS_MIB = 192;

// ---------------------------------------------------------------------------------------------- output
const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code) => (s) => (color ? `\x1b[${code}m${s}\x1b[0m` : String(s));
const bold = paint('1');
const dim = paint('2');
const green = paint('32');
const red = paint('31');
const cyan = paint('36');
const t0 = performance.now();
const clock = () => dim(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)}s]`);
const say = (s = '') => console.log(s);
const stage = (n, title) => say(`\n${bold(cyan(`[${n}/5]`))} ${bold(title)}`);
const line = (s) => say(`${clock()} ${s}`);

// ---------------------------------------------------------------------------------------------- cleanup
// Everything this run writes (the disk image, the initramfs, the harness's work directory with the
// socket and the logs) lives under one temporary directory: TMPDIR points there for the harness.
const temp = mkdtempSync(join(tmpdir(), 'vmv-demo-'));
process.env.TMPDIR = temp;
let keepLogs = keep;
const cleanup = () => {
  if (keepLogs) {
    rmSync(join(temp, 'disk.raw'), { force: true });
    return;
  }
  rmSync(temp, { recursive: true, force: true });
};
process.on('exit', cleanup);
// bootGuest also kills QEMU and the daemon on these signals (and on exit); this makes sure the files go too
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    say(`\n${red(`interrupted (${sig}): stopping QEMU and the daemon, removing temporary files`)}`);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}
const fail = (message) => {
  say(`\n${red(bold('demo failed:'))} ${message}`);
  process.exit(1);
};

// ---------------------------------------------------------------------------------------------- helpers
/** A newc cpio archive of `entries` ({name, mode, data?}), as the kernel's initramfs unpacker reads it. */
function cpio(entries) {
  const parts = [];
  const pad = (n) => Buffer.alloc((4 - (n % 4)) % 4);
  let ino = 1000;
  const mtime = Math.floor(Date.now() / 1000);
  for (const e of [...entries, { name: 'TRAILER!!!', mode: 0 }]) {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${e.name}\0`);
    const isDir = (e.mode & 0o170000) === 0o040000;
    const fields = [e.name === 'TRAILER!!!' ? 0 : ino++, e.mode, 0, 0, isDir ? 2 : 1, mtime, data.length, 0, 0, 0, 0, name.length, 0];
    const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`);
    parts.push(header, name, pad(header.length + name.length), data, pad(data.length));
  }
  return Buffer.concat(parts);
}

/** The harness's initramfs with /tests/demo.sh added: a second gzip'd cpio appended (the kernel unpacks both). */
function demoInitrd(baseInitrd) {
  const overlay = gzipSync(cpio([
    { name: 'tests', mode: 0o040755 },
    { name: 'tests/demo.sh', mode: 0o100755, data: readFileSync(join(HERE, 'guest', 'demo.sh')) },
  ]));
  const out = join(temp, 'initramfs-demo.cpio.gz');
  writeFileSync(out, Buffer.concat([readFileSync(baseInitrd), overlay]));
  return out;
}

const md5 = (buf) => createHash('md5').update(buf).digest('hex');
const rate = (bytes, t0s, t1s) => bytes / (1 << 20) / Math.max(0.01, t1s - t0s);

// ---------------------------------------------------------------------------------------------- the demo
say(bold('vmv demo: Linux drives a virtio-blk disk served by TypeScript'));
say(dim('  guest virtio_blk driver -> QEMU vhost-user-blk -> unix socket -> vmv-vhost-user-blk (@vmv/vhost-user + @vmv/block) -> disk image'));

stage(1, 'host packages');
const deps = ensureHostDeps({ quiet: true });
if (!deps.ok) {
  say(deps.output);
  fail('host packages are missing (see above for exactly what and how to install them)');
}
line(`QEMU, busybox, e2fsprogs and friends: ${/installing/.test(deps.output) ? 'installed now' : 'all present'}`);
const daemonCmd = vmvCommand();
if (!process.env.VMV_GUEST_VMV_CMD && !existsSync(VMV_DAEMON_BIN)) {
  fail(`the daemon is not built (${VMV_DAEMON_BIN} is missing). \`npm run demo\` builds it first; or run: pnpm --filter @vmv/vhost-user-blk run build`);
}

stage(2, 'guest image');
let img;
try {
  img = await ensureGuestImage({ log: (l) => line(dim(l)) });
} catch (e) {
  fail(`building the guest image failed: ${e.message}`);
}
line(`Debian kernel ${img.kver} (${img.kernelPackage}) + busybox initramfs: ${img.built.length ? `built (${img.built.join(', ')})` : 'cached'} in ${img.seconds.toFixed(1)} s`);
const initrd = demoInitrd(img.initrd);
line('added the demo workload (guest/demo.sh) to the initramfs');

stage(3, 'disk image');
const image = join(temp, 'disk.raw');
createImage(image, DISK_MIB << 20);
line(`${image}: ${DISK_MIB} MiB raw, sparse`);

stage(4, `vmv-vhost-user-blk + Linux on QEMU (${machine}, ${queues} queue${queues === 1 ? '' : 's'}, ${detectAccel().accel.toUpperCase()})`);
const main = await runWorkload({ backend: { name: 'vmv', command: [...daemonCmd, '--serial', 'vmv-demo-disk'] }, image, show: true });
const { r } = main;
say(dim('  daemon log:'));
for (const l of main.backendLog.split('\n').filter(Boolean)) say(dim(`    ${l.startsWith('+ ') ? `$ ${l.slice(2).replace(/^\S*node /, 'node ')}` : l}`));

stage(5, 'checks on the host (QEMU and the daemon have exited)');
for (const c of main.checks.filter((x) => !x.name.startsWith('guest: ') || x.name === 'guest: workload completed')) {
  line(`${c.ok ? green('✔') : red('✘')} ${c.name}: ${c.text}`);
}

// ---------------------------------------------------------------------------------------------- summary
const { checks } = main;
const passed = checks.filter((c) => c.ok).length;
let ok = passed === checks.length && r.ok;
const m = measure(main.results);
const fmt = (n) => (Number.isFinite(n) ? n.toFixed(1) : '?');
const stopped = /stopped: (\d+) connections?, (\d+) requests/.exec(main.backendLog);
say(`\n${bold('Summary')}`);
say(`  guest        Linux ${img.kver} on QEMU ${machine} (${machine === 'microvm' ? 'virtio-mmio' : 'virtio-pci'}), ${r.accel.toUpperCase()}, booted in ${fmt(r.initSeconds)} s`);
say(`  disk         ${DISK_MIB} MiB raw image, ${main.results.queues ?? '?'} request queue(s), serial '${main.results.serial ?? ''}', served by vmv-vhost-user-blk`);
say(`  daemon       ${stopped ? `${stopped[2]} virtio-blk requests over ${stopped[1]} connection(s)` : 'no statistics'}, exit ${r.backendExit?.code ?? r.backendExit?.signal} on SIGTERM`);
say(`  seq. write   ${fmt(m.seqwrite)} MiB/s  (O_DIRECT, 1 MiB requests, ${fmt(m.seqwriteMiB)} MiB)`);
say(`  seq. read    ${fmt(m.seqread)} MiB/s  (O_DIRECT, 1 MiB requests)`);
say(`  4 KiB reads  ${Number.isFinite(m.iops) ? Math.round(m.iops) : '?'} IOPS  (O_DIRECT, one at a time)`);
say(`  ext4 write   ${fmt(m.fswrite)} MiB/s  (${fmt(m.fswriteMiB)} MiB of files from /dev/urandom, then sync)`);
say(`  checks       ${ok ? green(`${passed}/${checks.length} passed`) : red(`${passed}/${checks.length} passed`)}`);
for (const c of checks.filter((x) => !x.ok)) say(red(`    ✘ ${c.name}: ${c.text}`));
if (!r.ok) for (const e of r.errors) say(red(`    ${e.split('\n')[0]}`));

if (compare) {
  say(`\n${bold('The same workload on qemu-storage-daemon')} ${dim('(QEMU\'s C implementation, page cache like ours: cache.direct=off)')}`);
  const refImage = join(temp, 'disk-qsd.raw');
  createImage(refImage, DISK_MIB << 20);
  const ref = await runWorkload({ backend: qsdBackend({ cache: 'writeback' }), image: refImage, show: false });
  rmSync(refImage, { force: true });
  const q = measure(ref.results);
  const refPassed = ref.checks.filter((c) => c.ok).length;
  const row = (label, a, b, unit) => say(`  ${label.padEnd(12)} ${`${fmt(a)} ${unit}`.padStart(14)}   ${`${fmt(b)} ${unit}`.padStart(14)}   ${Number.isFinite(a / b) ? (a / b).toFixed(2) : '?'}`);
  say(dim(`  ${''.padEnd(12)} ${'vmv'.padStart(14)}   ${'qsd'.padStart(14)}   vmv/qsd`));
  row('seq. write', m.seqwrite, q.seqwrite, 'MiB/s');
  row('seq. read', m.seqread, q.seqread, 'MiB/s');
  row('4 KiB reads', m.iops, q.iops, 'IOPS');
  row('ext4 write', m.fswrite, q.fswrite, 'MiB/s');
  say(`  qsd checks   ${refPassed === ref.checks.length ? green(`${refPassed}/${ref.checks.length} passed`) : red(`${refPassed}/${ref.checks.length} passed`)} ${dim('(one run each: under TCG on a shared machine, expect ±30 % noise)')}`);
  ok = ok && ref.r.ok && refPassed === ref.checks.length;
}
say(`  time         ${((performance.now() - t0) / 1000).toFixed(1)} s in all (${r.accel === 'tcg' ? 'the guest CPU is emulated by TCG: figures are far below hardware speed' : 'KVM'})`);
if (!ok) keepLogs = true; // keep the logs of a failed run (the disk images are removed)
if (keepLogs) say(`  logs         ${r.workDir} (console.log, backend.log, qemu.err, cmdline.txt)`);
say(ok ? green(bold('\ndemo passed: every process it started has exited')) : red(bold('\ndemo failed')));
process.exit(ok ? 0 : 1);

// ---------------------------------------------------------------------------------------------- one run
/**
 * Boots the guest with `backend` serving `image`, runs guest/demo.sh, then checks the image on the host.
 * @returns {Promise<{r: object, results: Record<string, string>, checks: {name: string, ok: boolean, text: string}[], backendLog: string}>}
 */
async function runWorkload({ backend, image: disk, show }) {
  const results = {};
  const checks = [];
  const check = (name, ok, text) => checks.push({ name, ok, text });
  const onConsoleLine = (raw) => {
    const l = raw.trimEnd();
    let x;
    if (l.startsWith('GUEST-INIT: start')) {
      if (show) line(`Linux ${/kernel=(\S+)/.exec(l)?.[1] ?? ''} booted, /init running (guest uptime ${/uptime=([\d.]+)/.exec(l)?.[1] ?? '?'} s)`);
    } else if ((x = /^DEMO-STEP (.*)$/.exec(l))) {
      line(show ? bold(x[1]) : dim(x[1]));
    } else if ((x = /^DEMO-PROGRESS (.*)$/.exec(l))) {
      if (show) line(`  ${x[1]}`);
    } else if ((x = /^DEMO-RESULT (\S+) ?(.*)$/.exec(l))) {
      results[x[1]] = x[2];
    } else if ((x = /^DEMO-CHECK (\S+) (PASS|FAIL) ?(.*)$/.exec(l))) {
      check(`guest: ${x[1]}`, x[2] === 'PASS', x[3]);
      if (show || x[2] !== 'PASS') line(`  ${x[2] === 'PASS' ? green('✔') : red('✘')} ${x[3]}`);
    } else if (verbose) {
      line(dim(l));
    } else if (/^FAIL: |Kernel panic|Oops|I\/O error|blk_update_request|virtio.*(error|broken)/i.test(l)) {
      line(red(l));
    }
  };
  const r = await bootGuest({
    machine,
    queues,
    backend,
    tests: ['demo'],
    image: disk,
    guestImage: { ...img, initrd },
    cmdline: [`demo.fs=${FS_MIB}`, 'demo.files=16', 'demo.filemib=8'],
    cpus: 2,
    timeoutMs: 240_000,
    keepWorkDir: true,
    onConsoleLine,
    onProgress: (msg) => line(dim(msg.replace(/^backend vmv/, 'vmv-vhost-user-blk'))),
  });
  const who = r.backend === 'vmv' ? 'daemon' : r.backend;
  if (show) line(`guest powered off; QEMU exited with ${r.qemuExit?.code ?? r.qemuExit?.signal}; ${who} stopped with SIGTERM: exit ${r.backendExit?.code ?? r.backendExit?.signal}`);
  let backendLog = '';
  try {
    backendLog = readFileSync(join(r.workDir, 'backend.log'), 'utf8');
  } catch { /* no log */ }

  check('guest: workload completed', r.tests.demo === 'PASS' && r.marker?.fail === 0, r.tests.demo === 'PASS' ? 'every step ran' : `the workload failed: ${r.errors.join('; ')}`);
  check('QEMU exited by itself after the guest powered off', r.qemuExit?.code === 0, `exit ${r.qemuExit?.code ?? r.qemuExit?.signal}`);
  check(`${who} stopped cleanly on SIGTERM`, r.backendExit?.code === 0 && !r.backendExit?.killed, `exit ${r.backendExit?.code ?? r.backendExit?.signal}`);
  check(`${who} removed its socket file`, !existsSync(join(r.workDir, 'vub.sock')), 'no vub.sock left');
  const v = r.values;
  if (v['demo-pattern-md5']) {
    const host = md5Range(disk, Number(v['demo-pattern-mib']) << 20, 8 << 20);
    check('host: raw O_DIRECT pattern in the image file', host === v['demo-pattern-md5'], `md5 ${host}`);
  }
  const fsck = spawnSync('e2fsck', ['-fn', disk], { encoding: 'utf8' });
  const fsckLast = `${fsck.stdout}`.trim().split('\n').at(-1) ?? '';
  check('host: e2fsck -fn on the image file', fsck.status === 0, fsck.status === 0 ? fsckLast : `${fsck.stdout}${fsck.stderr}`.trim().slice(-400));
  const files = Object.keys(v).filter((k) => /^demo-data\/.*-md5$/.test(k));
  let same = 0;
  for (const k of files) {
    const name = k.slice('demo-'.length, -'-md5'.length);
    const out = spawnSync('debugfs', ['-R', `cat /${name}`, disk], { encoding: 'buffer', maxBuffer: 64 << 20 });
    if (out.status === 0 && md5(out.stdout) === v[k]) same++;
  }
  check('host: every file read back with debugfs matches the guest md5', files.length > 0 && same === files.length, `${same}/${files.length} files`);
  return { r, results, checks, backendLog };
}

/** Throughput and IOPS from the guest's DEMO-RESULT lines (bytes or counts, start and end uptime). */
function measure(results) {
  const res = (key) => (results[key] ?? '').split(' ').map(Number);
  const [wb, w0, w1] = res('seqwrite');
  const [rb, r0, r1] = res('seqread');
  const [n4, k0, k1] = res('read4k');
  const [fb, f0, f1] = res('fswrite');
  return {
    seqwrite: rate(wb, w0, w1), seqwriteMiB: wb / (1 << 20), seqread: rate(rb, r0, r1),
    iops: n4 / Math.max(0.01, k1 - k0), fswrite: rate(fb, f0, f1), fswriteMiB: fb / (1 << 20),
  };
}
