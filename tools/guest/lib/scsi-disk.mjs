// scsi/disk: the blk workloads on two SCSI disks of vmv-vhost-user-scsi at once (guest/tests/scsi-disk.sh runs a job
// per LUN, concurrently), checked on the host in the images after the run:
//   LUN 0 (64 MiB): blk.sh's layout, verified as the blk case does (host data read by the guest in 1 MiB and 4 KiB
//     O_DIRECT requests; the guest's O_DIRECT + fsync writes found in the image); then blkdiscard on three ranges
//     the host filled (allocated in the image before the boot), through sd's provisioning modes unmap, writesame_16
//     and writesame_10 (UNMAP, WRITE SAME(16)/(10) with UNMAP): the guest read the host's data before and zeros
//     after, and each range is a hole in the image (SEEK_DATA) reading zeros.
//   LUN 1 (128 MiB): ext4 with 120 files of 0 B to 3 MiB, verified in the guest after a remount (e2fsck -fn there
//     too); on the host e2fsck -fn, then every file read out with debugfs and its md5 compared with the guest's; the
//     ten deleted 3 MiB files are gone, their former extents are holes reading zeros after fstrim, fstrim reported at
//     least their bytes, and the image holds no more allocated bytes than the filesystem's used blocks (a block
//     written and freed again went back to a hole through fstrim; the image starts sparse).
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CASES } from './cases.mjs';
import { runCheck } from './checks.mjs';
import { createImage, md5Range, run, which } from './image.mjs';
import { SCSI_MODULES, allocatedBytes, comparer, md5, scsiDaemon } from './scsi.mjs';

const MiB = 1 << 20;
const SIZES = [64 * MiB, 128 * MiB];
const DISCARD_OFF = 16 * MiB; // after blk.sh's layout
const DISCARD_LEN = 4 * MiB;
const MODES = ['unmap', 'writesame_16', 'writesame_10'];
const FILES = 120;

/** e2fsck -fn, the files debugfs reads out of the image (name -> md5), and the used bytes dumpe2fs reports. */
async function readExt4(image, dir) {
  const e2fsck = which('e2fsck');
  const debugfs = which('debugfs');
  const dumpe2fs = which('dumpe2fs');
  if (!e2fsck || !debugfs || !dumpe2fs) throw new Error('host e2fsck/debugfs/dumpe2fs missing (install e2fsprogs)');
  let fsck = '';
  try {
    await run(e2fsck, ['-fn', image]);
  } catch (err) {
    fsck = `host e2fsck -fn found problems: ${String(err.stdout).trim().slice(-600)}`;
  }
  const out = join(dir, 'dump');
  const cmds = join(dir, 'debugfs.cmds');
  writeFileSync(cmds, `${Array.from({ length: 8 }, (_, d) => `rdump /d${d} ${out}`).join('\n')}\ndump /MD5SUMS ${join(out, 'MD5SUMS')}\n`);
  rmSync(out, { recursive: true, force: true });
  await run('mkdir', ['-p', out]);
  await run(debugfs, ['-f', cmds, image]);
  const files = {};
  for (const d of readdirSync(out, { withFileTypes: true })) {
    if (!d.isDirectory()) continue;
    for (const f of readdirSync(join(out, d.name))) files[`${d.name}/${f}`] = md5(readFileSync(join(out, d.name, f)));
  }
  let sums = [];
  try {
    sums = readFileSync(join(out, 'MD5SUMS'), 'utf8').trim().split('\n').filter(Boolean).map((l) => l.split(/\s+/));
  } catch { /* reported below: no entries */ }
  const h = String(await run(dumpe2fs, ['-h', image]));
  const num = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(h)?.[1]);
  return { fsck, files, sums, used: (num('Block count') - num('Free blocks')) * num('Block size') };
}

/**
 * scsi/disk: see the header.
 * @param {object} img  a guest image (ensureGuestImage)
 * @param {object} hooks  log, onConsoleLine
 */
export function scsiDiskCheck(img, hooks = {}) {
  const name = `${img.platform.name}/scsi/disk`;
  const dir = mkdtempSync(join(tmpdir(), 'vmv-scsi-disk-'));
  const images = SIZES.map((size, i) => join(dir, `lun${i}.img`));
  const blk = CASES.blk.prepare(images[0], SIZES[0]);
  const fd = openSync(images[0], 'r+');
  writeSync(fd, randomBytes(DISCARD_LEN * MODES.length), 0, DISCARD_LEN * MODES.length, DISCARD_OFF);
  closeSync(fd);
  createImage(images[1], SIZES[1]); // sparse: mkfs.ext4 starts from nothing
  const discards = MODES.map((mode, i) => {
    const off = DISCARD_OFF + i * DISCARD_LEN;
    return { mode, off, md5: md5Range(images[0], off, DISCARD_LEN), allocated: allocatedBytes(images[0], off, DISCARD_LEN) };
  });
  let summary = '';
  return runCheck(name, img, {
    ...hooks,
    modules: SCSI_MODULES, programs: ['blkdiscard', 'fstrim', 'filefrag'],
    devices: [scsiDaemon(images, ['--solid-state'])],
    tests: ['scsi-disk'],
    cmdline: [`blk.size=${SIZES[0]}`, `disk.discard-off=${DISCARD_OFF}`, `disk.discard-len=${DISCARD_LEN}`],
    timeoutMs: 300_000, // about 25 s on an idle machine under TCG
    async verify(r) {
      const v = r.values;
      if (v['disk.done'] !== '1') return ['the guest did not finish'];
      const e = [];
      const eq = comparer(e);
      // LUN 0: blk.sh's values, checked as the blk case checks them
      const blkValues = Object.fromEntries(Object.entries(v).filter(([k]) => k.startsWith('disk.blk.')).map(([k, x]) => [k.slice(9), x]));
      e.push(...(await CASES.blk.verify({ values: blkValues }, images[0], blk)).map((m) => `LUN 0 ${m}`));
      eq('LUN 0 provisioning_mode at probe (VPD B0h/B2h: UNMAP)', v['disk.provisioning'], 'unmap');
      const zeros = md5(Buffer.alloc(DISCARD_LEN));
      for (const d of discards) {
        const de = comparer(e, `LUN 0 blkdiscard (${d.mode}) [${d.off / MiB}M, +${DISCARD_LEN / MiB}M) `);
        de('bytes allocated in the image before the boot', d.allocated, DISCARD_LEN);
        de('provisioning_mode', v[`disk.discard.${d.mode}.mode`], d.mode);
        de('before: the host\'s data read by the guest (md5)', v[`disk.discard.${d.mode}.before`], d.md5);
        de('after: the guest read zeros (md5)', v[`disk.discard.${d.mode}.after`], zeros);
        de('after: the image reads zeros (md5)', md5Range(images[0], d.off, DISCARD_LEN), zeros);
        de('after: bytes allocated in the image (a hole)', allocatedBytes(images[0], d.off, DISCARD_LEN), 0);
      }
      // LUN 1: the filesystem on the host
      let fs;
      try {
        fs = await readExt4(images[1], dir);
      } catch (err) {
        e.push(`LUN 1: reading the filesystem on the host: ${err.message.split('\n').slice(0, 3).join(' ')}`);
        return e;
      }
      if (fs.fsck) e.push(`LUN 1 ${fs.fsck}`);
      const deleted = (v['disk.fs.deleted'] ?? '').split(',').filter(Boolean);
      eq('LUN 1 files deleted before fstrim', deleted.length, FILES / 12);
      eq('LUN 1 /MD5SUMS entries (debugfs)', fs.sums.length, FILES);
      for (const [sum, file] of fs.sums) {
        const fe = comparer(e, `LUN 1 /${file} `);
        fe('md5 the guest printed, against /MD5SUMS', v[`disk.fs.${file}`], sum);
        if (deleted.includes(file)) fe('present after it was deleted', file in fs.files, false);
        else fe('md5 of what debugfs reads from the image', fs.files[file], sum);
      }
      eq('LUN 1 files in the image (debugfs)', Object.keys(fs.files).length, FILES - deleted.length);
      const extents = (v['disk.fs.extents'] ?? '').split(',').filter(Boolean).map((x) => x.split('+').map(Number));
      if (extents.length < deleted.length) e.push(`LUN 1: ${extents.length} extents for ${deleted.length} deleted files (${v['disk.fs.extents']})`);
      let freed = 0;
      for (const [off, len] of extents) {
        const xe = comparer(e, `LUN 1 a deleted file's extent [${off}, +${len}) after fstrim: `);
        xe('bytes allocated in the image (a hole)', allocatedBytes(images[1], off, len), 0);
        xe('md5 in the image (zeros)', md5Range(images[1], off, len), md5(Buffer.alloc(len)));
        freed += len;
      }
      const trimmed = Number(v['disk.fs.trimmed']);
      if (!(trimmed >= freed)) e.push(`LUN 1 fstrim reported ${v['disk.fs.trimmed']} bytes trimmed, less than the deleted files' ${freed}`);
      const allocated = allocatedBytes(images[1], 0, SIZES[1]);
      if (allocated > fs.used) e.push(`LUN 1: the image has ${allocated} bytes allocated, more than the filesystem's ${fs.used} used: free blocks were not discarded`);
      const t = (k) => Number(v[`disk.${k}`]);
      summary = `LUN 0 blk layout + blkdiscard via UNMAP, WRITE SAME(16)/(10) UNMAP (3 holes of ${DISCARD_LEN / MiB} MiB); `
        + `LUN 1 ext4 ${FILES} files verified (guest remount, host e2fsck + debugfs), ${deleted.length} deleted, fstrim ${(trimmed / MiB).toFixed(1)} MiB, `
        + `${extents.length} extents (${(freed / MiB).toFixed(1)} MiB) holes; image ${(allocated / MiB).toFixed(1)} MiB allocated of ${(fs.used / MiB).toFixed(1)} MiB used; `
        + `jobs ${t('lun0.start')}-${t('lun0.end')} s and ${t('lun1.start')}-${t('lun1.end')} s (guest uptime)`;
      return e;
    },
    summary: () => summary,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  });
}
