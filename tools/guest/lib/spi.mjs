// The virtio-spi device's real-guest test (trixie: QEMU 11.1's vhost-user-spi-pci, the out-of-tree spi-virtio driver,
// the kernel's spi-nor and spidev drivers, Debian's mtd-utils and spi-tools): vmv-vhost-user-spi with a W25Q32 flash
// on chip select 0 kept in a host file of random bytes, and a loopback on chip select 1.
//   spi/devices  spi-nor binds the flash (w25q32, JEDEC ef4016) and /dev/mtd0 is a 4 MiB NOR of 4 KiB erase blocks;
//                the guest reads the host's bytes, flashcp writes 100000 bytes at 0, flash_erase and mtd_debug write
//                5000 at 1 MiB, and the host's file holds exactly what the guest wrote (md5 on both sides, the rest
//                untouched); spi-pipe's transfers to the loopback read back what was sent at every mode and width
//                (see guest/tests/spi.sh); those in LOOP mode never reach the peripheral (the daemon's log).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCheck } from './checks.mjs';
import { REPO_ROOT } from './util.mjs';

/** The daemon (built: packages/vhost-user-spi/dist). */
export const SPI_DAEMON_BIN = join(REPO_ROOT, 'packages', 'vhost-user-spi', 'dist', 'cjs', 'bin.js');

const md5 = (b) => createHash('md5').update(b).digest('hex');
const SIZE = 4 << 20;

/**
 * spi/devices: see the header.
 * @param {object} img  a guest image (ensureGuestImage)
 * @param {object} hooks  log, onConsoleLine
 */
export function spiDevicesCheck(img, hooks = {}) {
  const name = `${img.platform.name}/spi/devices`;
  const dir = mkdtempSync(join(tmpdir(), 'vmv-spi-'));
  const file = join(dir, 'w25q32.bin');
  const initial = randomBytes(SIZE);
  writeFileSync(file, initial);
  let summary = '';
  return runCheck(name, img, {
    ...hooks,
    modules: ['spi-virtio', 'spi-nor'], packages: ['mtd-utils', 'spi-tools'],
    programs: ['mtd_debug', 'flashcp', 'flash_erase', 'spi-pipe', 'perl', 'od'],
    devices: [{
      name: 'vmv-spi',
      // -s P listens on P0, as vhost-device-spi does
      socketFile: 'spi.sock0',
      argv: ({ socket }) => [process.execPath, SPI_DAEMON_BIN, '-s', socket.slice(0, -1), '--cs', `0=flash:${file},model=w25q32`, '--cs', '1=loopback'],
      qemuDevice: (c) => `vhost-user-spi-pci,chardev=${c}`,
    }],
    tests: ['spi'],
    timeoutMs: 600_000,
    async verify(r) {
      const v = r.values;
      const e = [];
      if (v['spi.done'] !== '1') return ['the guest did not finish'];
      const eq = (what, got, want) => { if (String(got) !== String(want)) e.push(`${what}: the guest has ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`); };
      const f = readFileSync(file);
      eq('spi-nor partname', v['spi.nor.partname'], 'w25q32');
      eq('spi-nor jedec_id', v['spi.nor.jedec'], 'ef4016');
      eq('mtd0 type', v['spi.mtd.type'], 'nor');
      eq('mtd0 size', v['spi.mtd.size'], SIZE);
      eq('mtd0 erasesize', v['spi.mtd.erasesize'], 4096);
      eq('the flash read through mtd0 (md5) against the host file before the run', v['spi.read'], md5(initial));
      eq("flashcp's 100000 bytes at 0, in the host file (md5)", md5(f.subarray(0, 100000)), v['spi.flashcp']);
      eq('the rest of the 25 sectors flashcp erased', md5(f.subarray(100000, 102400)), md5(Buffer.alloc(2400, 0xff)));
      eq('16 sectors at 1 MiB after flash_erase, read by the guest (md5)', v['spi.erased'], md5(Buffer.alloc(65536, 0xff)));
      eq("mtd_debug's 5000 bytes at 1 MiB, in the host file (md5)", md5(f.subarray(0x100000, 0x100000 + 5000)), v['spi.write']);
      eq('the rest of the erased sectors in the host file', md5(f.subarray(0x100000 + 5000, 0x110000)), md5(Buffer.alloc(0x10000 - 5000, 0xff)));
      eq('the bytes no command touched', md5(Buffer.concat([f.subarray(102400, 0x100000), f.subarray(0x110000)])), md5(Buffer.concat([initial.subarray(102400, 0x100000), initial.subarray(0x110000)])));
      eq('the whole flash read by the guest at the end against the host file (md5)', v['spi.final'], md5(f));
      eq('loopback transfers that read back what was sent', v['spi.loop.runs'], 128);
      // The 48 in LOOP mode are the controller's own loopback: they never reach the peripheral (the daemon's last words).
      const log = readFileSync(join(r.workDir, 'device0-vmv-spi.log'), 'utf8');
      eq('transfers that reached the loopback on chip select 1 (daemon log)', /chip select 1: loopback, (\d+) transfers/.exec(log)?.[1], 80);
      if (!/chip select 0: w25q32, [1-9]\d* programs, [1-9]\d* erases/.test(log)) e.push('the daemon log has no programs and erases on the flash');
      summary = 'spi-nor bound w25q32 (ef4016), mtd0 4 MiB / 4 KiB erase; read, flashcp 100000 B, flash_erase 64 KiB, mtd_debug write 5000 B '
        + 'all in the host file (md5); 128 spi-pipe loopback transfers (32 modes x 8/13/32 bits, widths 1-32) read back what was sent, the 48 in LOOP mode without reaching the peripheral';
      return e;
    },
    summary: () => summary,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  });
}
