// The virtio-scsi device's real-guest test: vmv-vhost-user-scsi (packages/vhost-user-scsi) behind QEMU's own
// vhost-user-scsi-pci (QEMU 7.2 and 11.1; kernels 6.1 and 7.3), the kernel's virtio_scsi, sd_mod and sg, and Debian's sg3-utils.
//   scsi/luns  two images as LUN 0 (read-write) and LUN 1 (--read-only-lun 1) of target 0. What the guest read with
//              sg_inq, sg_vpd (pages 00h, 80h, 83h, B0h, B1h, B2h), sg_readcap -l and sg_luns is decoded here field by
//              field and compared with what the host configured (the unit's identity and limits as @vmv/scsi builds
//              them from the same images and options, the images' sizes); LUN 1 refuses a WRITE(10) with DATA
//              PROTECT, WRITE PROTECTED and the kernel marks it read-only; 64 KiB the host wrote into LUN 0's image
//              read by the guest (md5), 64 KiB the guest wrote with O_DIRECT found in the image after the run (md5).
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, writeSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCheck } from './checks.mjs';
import { createImage, md5Range, which } from './image.mjs';
import { REPO_ROOT } from './util.mjs';

/** The daemon (built: packages/vhost-user-scsi/dist). */
export const SCSI_DAEMON_BIN = join(REPO_ROOT, 'packages', 'vhost-user-scsi', 'dist', 'cjs', 'bin.js');
const require = createRequire(import.meta.url);

/** scsi_mod's dependency first, then the drivers (modinfo -F depends on trixie's kernel). */
export const SCSI_MODULES = ['scsi_common', 'scsi_mod', 'sd_mod', 'sg', 'virtio_scsi'];
const PROGRAMS = ['sg_inq', 'sg_vpd', 'sg_readcap', 'sg_luns', 'sg_raw', 'od'];

const SIZES = [32 << 20, 8 << 20];
const READ_OFF = 1 << 20;
const WRITE_OFF = 2 << 20;
const LEN = 64 << 10;

export const md5 = (b) => createHash('md5').update(b).digest('hex');
export const bytes = (hex) => Buffer.from(hex ?? '', 'hex');
const ascii = (b, from, to) => b.subarray(from, to).toString('latin1');

/** @vmv/scsi, built (packages/scsi/dist): the target the daemon serves. */
export const scsiPackage = () => require(join(REPO_ROOT, 'packages', 'scsi', 'dist', 'cjs', 'index.js'));

/**
 * Runs `fn(bus, units)` on the units as the daemon builds them: the same images opened the same way (read-only
 * here), added to a @vmv/scsi bus with the same options, so that identity, limits, mode pages and supported
 * commands are what the target reports. Each unit's unit attentions (power on, LUNs changed) are
 * taken first.
 * @param {string[]} images  LUN 0 upwards of target 0
 * @param {number[]} readOnlyLuns  the daemon's --read-only-lun
 * @param {(bus: object, units: object[]) => Promise<T>|T} fn
 * @returns {Promise<T>}
 * @template T
 */
export async function withHostBus(images, readOnlyLuns, fn) {
  const { ScsiBus } = scsiPackage();
  const { openImage, SessionSafeBackend } = require(join(REPO_ROOT, 'packages', 'vhost-user-blk', 'dist', 'cjs', 'index.js'));
  const bus = new ScsiBus();
  const opened = [];
  try {
    const units = [];
    for (const [lun, path] of images.entries()) {
      const img = await openImage({ image: path, readonly: true });
      opened.push(img);
      units.push(bus.add(0, lun, { backend: new SessionSafeBackend(img.backend), readOnly: readOnlyLuns.includes(lun), solidState: true }));
    }
    // after every add: adding a LUN raises REPORTED LUNS DATA HAS CHANGED on the others
    for (const u of units) while (u.takeAttention() !== undefined);
    return await fn(bus, units);
  } finally {
    for (const img of opened) await img.close();
  }
}

/**
 * vmv-vhost-user-scsi serving `images` (LUN 0 upwards of target 0) to QEMU's vhost-user-scsi-pci.
 * @param {string[]} images
 * @param {string[]} [flags]  the daemon's flags (before the images)
 * @returns {import('./boot.mjs').VhostUserDeviceSpec}
 */
export const scsiDaemon = (images, flags = []) => ({
  name: 'vmv-scsi',
  argv: ({ socket }) => [process.execPath, SCSI_DAEMON_BIN, '--socket-path', socket, ...flags, ...images],
  // virtqueue_size 1024: rings of the daemon's default --queue-size (QEMU keeps seg_max at 126 whatever the size)
  qemuDevice: (c) => `vhost-user-scsi-pci,chardev=${c},virtqueue_size=1024`,
});

/**
 * A field-by-field comparer: `eq(field, got, want)` adds "<prefix><field>: the guest read ..., expected ..." to
 * `errors` when the two differ (compared as strings).
 */
export const comparer = (errors, prefix = '') => (field, got, want) => {
  if (String(got) !== String(want)) errors.push(`${prefix}${field}: the guest read ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
};

/** Identity, limits and capacity of each unit as the daemon configures them (see withHostBus). */
export const configured = (images, readOnlyLuns) => withHostBus(images, readOnlyLuns,
  (bus, units) => units.map((u) => ({ identity: u.identity, limits: u.limits, blocks: u.capacity })));

// SEEK_DATA (3) and SEEK_HOLE (4) from `offset`: Node has no lseek, perl (perl-base, Essential in Debian) passes
// whence through. ENXIO from SEEK_DATA: no data after the offset.
const SEEK_DATA_SCRIPT = `use Errno;
open(my $f, '<', $ARGV[0]) or die "$ARGV[0]: $!\\n";
my ($o, $end, $n) = ($ARGV[1], $ARGV[1] + $ARGV[2], 0);
while ($o < $end) {
  my $d = sysseek($f, $o, 3);
  if (!defined $d) { last if $!{ENXIO}; die "SEEK_DATA: $!\\n"; }
  $d += 0;
  last if $d >= $end;
  my $h = sysseek($f, $d, 4);
  die "SEEK_HOLE: $!\\n" unless defined $h;
  $h += 0;
  $n += ($h < $end ? $h : $end) - $d;
  $o = $h;
}
print "$n\\n";`;

/**
 * Bytes of `[offset, offset+length)` of a file that are data, not a hole, as the filesystem says (SEEK_DATA and
 * SEEK_HOLE; ext4, xfs, btrfs, tmpfs). 0 for a hole.
 * @param {string} path
 * @param {number} offset
 * @param {number} length
 * @returns {number}
 * @throws {Error} without perl, or when the filesystem refuses the seeks
 */
export function allocatedBytes(path, offset, length) {
  const perl = which('perl');
  if (!perl) throw new Error('host perl missing (perl-base)');
  return Number(execFileSync(perl, ['-e', SEEK_DATA_SCRIPT, path, String(offset), String(length)], { encoding: 'utf8' }).trim());
}

/** Field by field: each guest field against the host's, named in the message. */
function compareLun(v, lun, want) {
  const e = [];
  const eq = comparer(e, `LUN ${lun} `);
  const pad = (s, n) => s.padEnd(n, ' ').slice(0, n);
  const inq = bytes(v[`scsi.${lun}.inq`]);
  eq('INQUIRY peripheral device type', inq[0] & 0x1f, 0);
  eq('INQUIRY vendor', ascii(inq, 8, 16), pad(want.identity.vendor, 8));
  eq('INQUIRY product', ascii(inq, 16, 32), pad(want.identity.product, 16));
  eq('INQUIRY revision', ascii(inq, 32, 36), pad(want.identity.revision, 4));
  const vpd = (p) => bytes(v[`scsi.${lun}.vpd.${p}`]);
  const p0 = vpd('0x00');
  eq('VPD 00h supported pages', [...p0.subarray(4, 4 + p0.readUInt16BE(2))].map((x) => x.toString(16)).join(','), '0,80,83,b0,b1,b2');
  const p80 = vpd('0x80');
  eq('VPD 80h serial', ascii(p80, 4, 4 + p80.readUInt16BE(2)), want.identity.serial);
  const p83 = vpd('0x83');
  eq('VPD 83h designator type/code set', `${p83[5] & 0x0f}/${p83[4] & 0x0f}`, '1/2');
  eq('VPD 83h T10 vendor ID designator', ascii(p83, 8, 8 + p83[7]), pad(want.identity.vendor, 8) + want.identity.serial);
  const b0 = vpd('0xb0');
  eq('VPD B0h WSNZ', b0[4] & 1, 1);
  eq('VPD B0h maximum transfer length', b0.readUInt32BE(8), want.limits.maxTransferBlocks);
  eq('VPD B0h maximum unmap LBA count', b0.readUInt32BE(20), want.limits.unmap ? want.limits.maxUnmapBlocks : 0);
  eq('VPD B0h maximum unmap descriptors', b0.readUInt32BE(24), want.limits.unmap ? want.limits.maxUnmapDescriptors : 0);
  eq('VPD B0h maximum write same length', Number(b0.readBigUInt64BE(36)), want.limits.maxWriteSameBlocks);
  const b1 = vpd('0xb1');
  eq('VPD B1h medium rotation rate', b1.readUInt16BE(4), want.limits.solidState ? 1 : 0);
  const b2 = vpd('0xb2');
  eq('VPD B2h LBPU/LBPWS/LBPWS10', (b2[5] & 0xe0).toString(16), want.limits.unmap ? 'e0' : '0');
  eq('VPD B2h provisioning type', b2[6] & 7, want.limits.unmap ? 2 : 0);
  const cap = bytes(v[`scsi.${lun}.readcap`]);
  eq('READ CAPACITY(16) blocks', Number(cap.readBigUInt64BE(0)) + 1, want.blocks);
  eq('READ CAPACITY(16) block length', cap.readUInt32BE(8), 512);
  eq('READ CAPACITY(16) LBPME', (cap[14] >> 7) & 1, want.limits.unmap ? 1 : 0);
  const luns = bytes(v[`scsi.${lun}.luns`]);
  const list = [];
  for (let o = 8; o + 8 <= 8 + luns.readUInt32BE(0) && o + 8 <= luns.length; o += 8) list.push(luns.readUInt16BE(o) & 0x3fff);
  eq('REPORT LUNS', list.join(','), '0,1');
  return e;
}

/**
 * scsi/luns: see the header.
 * @param {object} img  a guest image (ensureGuestImage)
 * @param {object} hooks  log, onConsoleLine
 */
export function scsiLunsCheck(img, hooks = {}) {
  const name = `${img.platform.name}/scsi/luns`;
  const dir = mkdtempSync(join(tmpdir(), 'vmv-scsi-'));
  const images = SIZES.map((size, i) => join(dir, `lun${i}.img`));
  images.forEach((p, i) => createImage(p, SIZES[i]));
  const hostData = randomBytes(LEN);
  const fd = openSync(images[0], 'r+');
  writeSync(fd, hostData, 0, LEN, READ_OFF);
  closeSync(fd);
  let summary = '';
  return runCheck(name, img, {
    ...hooks,
    modules: SCSI_MODULES, packages: ['sg3-utils'], programs: PROGRAMS,
    devices: [scsiDaemon(images, ['--solid-state', '--read-only-lun', '1'])],
    tests: ['scsi'], cmdline: [`scsi.read-off=${READ_OFF}`, `scsi.read-len=${LEN}`, `scsi.write-off=${WRITE_OFF}`],
    async verify(r) {
      const v = r.values;
      if (v['scsi.done'] !== '1') return ['the guest did not finish'];
      const want = await configured(images, [1]);
      const e = [...compareLun(v, 0, want[0]), ...compareLun(v, 1, want[1])];
      if (v['scsi.0.ro'] !== '0' || v['scsi.1.ro'] !== '1') e.push(`the kernel's read-only flags: LUN 0 ${v['scsi.0.ro']}, LUN 1 ${v['scsi.1.ro']} (want 0, 1: MODE SENSE WP)`);
      if (v['scsi.ro.sense'] !== 'Data_Protect' || !/write_protected/i.test(v['scsi.ro.asc'] ?? '')) e.push(`a WRITE(10) to LUN 1: sg_raw exit ${v['scsi.ro.write-rc']}, sense "${v['scsi.ro.sense']}" "${v['scsi.ro.asc']}", not Data Protect, Write protected`);
      if (v['scsi.read'] !== md5(hostData)) e.push(`the host's 64 KiB read by the guest: md5 ${v['scsi.read']}, written ${md5(hostData)}`);
      const found = md5Range(images[0], WRITE_OFF, LEN);
      if (v['scsi.write'] !== found) e.push(`the guest's 64 KiB (md5 ${v['scsi.write']}) not in the image: md5 there ${found}`);
      summary = `LUN 0 ${want[0].blocks} blocks rw, LUN 1 ${want[1].blocks} blocks ro: INQUIRY, VPD 00h/80h/83h/B0h/B1h/B2h, READ CAPACITY(16), REPORT LUNS field by field; `
        + `LUN 1 write ${v['scsi.ro.sense']}/${v['scsi.ro.asc']}; 64 KiB host-to-guest and guest-to-host md5-checked`;
      return e;
    },
    summary: () => summary,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  });
}
