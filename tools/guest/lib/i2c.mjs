// The virtio-i2c device's real-guest test (trixie: QEMU 11.1's vhost-user-i2c-pci, the out-of-tree i2c-virtio driver,
// the kernel's at24 and lm75 drivers, Debian's i2c-tools): vmv-vhost-user-i2c with a 24C02 at 0x50 and a 24C32 at
// 0x51 kept in host files of random bytes, and an LM75 at 0x48.
//   i2c/devices  i2cdetect -y finds exactly 0x48, 0x50 and 0x51 (quick writes: the zero-length request); i2cdump,
//                i2cget and an i2ctransfer write-read (one transaction) read the 24C02's file; an i2cset lands in
//                the file; at24 bound to the 24C32 reads its file through sysfs (md5) and its write lands in the
//                file; lm75 bound to 0x48 reports through hwmon the temperature the host sets over the daemon's
//                control socket, and follows when the host changes it.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCheck } from './checks.mjs';
import { REPO_ROOT, daemonControl } from './util.mjs';

/** The daemon (built: packages/vhost-user-i2c/dist). */
export const I2C_DAEMON_BIN = join(REPO_ROOT, 'packages', 'vhost-user-i2c', 'dist', 'cjs', 'bin.js');

const md5 = (b) => createHash('md5').update(b).digest('hex');

/**
 * i2c/devices: see the header.
 * @param {object} img  a guest image (ensureGuestImage)
 * @param {object} hooks  log, onConsoleLine
 */
export function i2cDevicesCheck(img, hooks = {}) {
  const name = `${img.platform.name}/i2c/devices`;
  const dir = mkdtempSync(join(tmpdir(), 'vmv-i2c-'));
  const files = { 80: join(dir, '24c02.bin'), 81: join(dir, '24c32.bin') };
  const initial = { 80: randomBytes(256), 81: randomBytes(4096) };
  for (const a of [80, 81]) writeFileSync(files[a], initial[a]);
  const st = { ctl: null, chain: Promise.resolve(), failures: [] };
  let summary = '';
  return runCheck(name, img, {
    ...hooks,
    modules: ['i2c-virtio', 'i2c-dev', 'at24', 'lm75'], packages: ['i2c-tools'],
    programs: ['i2cdetect', 'i2cdump', 'i2cget', 'i2cset', 'i2ctransfer', 'od'],
    devices: [{
      name: 'vmv-i2c',
      // -s P listens on P0, as vhost-device-i2c does
      socketFile: 'i2c.sock0',
      argv: ({ socket }) => {
        st.ctl = `${socket}.ctl`;
        return [process.execPath, I2C_DAEMON_BIN, '-s', socket.slice(0, -1), '-l', '24c02:80,24c32:81,lm75:72',
          '--eeprom-file', `80=${files[80]}`, '--eeprom-file', `81=${files[81]}`, '--control-socket', st.ctl];
      },
      qemuDevice: (c) => `vhost-user-i2c-pci,chardev=${c}`,
    }],
    tests: ['i2c'],
    timeoutMs: 300_000,
    onConsoleLine(line, secs, run) {
      hooks.onConsoleLine?.(line, secs, run);
      const m = /^GUEST-I2C-TEMP (-?\d+)/.exec(line);
      if (!m) return;
      st.chain = st.chain.then(() => daemonControl(st.ctl, 'set-temperature', { address: 72, celsius: Number(m[1]) / 1000 }))
        .catch((e) => st.failures.push(`set-temperature: ${e.message}`));
    },
    async verify(r) {
      await st.chain;
      const v = r.values;
      const e = [...st.failures];
      if (v['i2c.done'] !== '1') return [...e, 'the guest did not finish'];
      const eq = (what, got, want) => { if (String(got) !== String(want)) e.push(`${what}: the guest read ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`); };
      const a = readFileSync(files[80]);
      const b = readFileSync(files[81]);
      eq('i2cdetect -y: the addresses that answer', v['i2c.detect'], '48,50,51,');
      const want = Buffer.from(initial[80]);
      eq('i2cdump of the 24C02', v['i2c.dump'], want.toString('hex'));
      eq('i2cget 0x20', v['i2c.get20'], `0x${want[0x20].toString(16).padStart(2, '0')}`);
      eq('i2ctransfer w1@0x50 0x30 r8', v['i2c.xfer'], [...want.subarray(0x30, 0x38)].map((x) => `0x${x.toString(16).padStart(2, '0')}`).join(''));
      eq('i2cset 0x10 read back', v['i2c.set'], '0x5a');
      want[0x10] = 0x5a;
      eq('the 24C02 file after the run (only 0x10 changed)', md5(a), md5(want));
      eq('at24 eeprom size', v['i2c.at24.size'], 4096);
      eq('at24 eeprom (md5) against the 24C32 file', v['i2c.at24.md5'], md5(initial[81]));
      eq('at24\'s 64-byte write at 100, in the 24C32 file (md5)', md5(b.subarray(100, 164)), v['i2c.at24.write']);
      eq('the rest of the 24C32 file', md5(Buffer.concat([b.subarray(0, 100), b.subarray(164)])), md5(Buffer.concat([initial[81].subarray(0, 100), initial[81].subarray(164)])));
      eq('lm75 temp1_input after the host set 42.5 °C', v['i2c.temp.42500'], 42500);
      eq('lm75 temp1_input after the host set -12.5 °C', v['i2c.temp.-12500'], -12500);
      summary = 'i2cdetect 0x48 0x50 0x51; 24C02 i2cdump/i2cget/i2ctransfer/i2cset against its file; at24 on the 24C32: 4096 bytes read, 64 written, '
        + 'both in the file; lm75 via hwmon 42.5 then -12.5 °C as the host set them';
      return e;
    },
    summary: () => summary,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  });
}
