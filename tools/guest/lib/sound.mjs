// The virtio-snd device's real-guest tests (trixie: QEMU 11.1, kernel 7.3's virtio_snd, Debian's alsa-utils).
//   sound/oracle  QEMU's own virtio-sound-pci with a wav audiodev (48 kHz, stereo, s16): the guest plays a clip of
//                 random frames with aplay; the WAV file QEMU wrote holds exactly the clip (the clip found whole, in
//                 order, with only silence around it). How long aplay took is reported, not checked: QEMU's pacing
//                 is not under test. What our device will be held to, shown on QEMU's.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCheck } from './checks.mjs';

/** The sound core and the driver, dependencies first (modules.dep of trixie's kernel). */
export const SOUND_MODULES = ['soundcore', 'snd', 'snd-timer', 'snd-pcm', 'virtio_snd'];

const md5 = (b) => createHash('md5').update(b).digest('hex');

/**
 * The data chunk of a RIFF/WAVE file and its format.
 * @param {Buffer} b
 * @returns {{format: number, channels: number, rate: number, bits: number, data: Buffer}}
 */
export function parseWav(b) {
  if (b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') throw new Error('not a RIFF/WAVE file');
  let fmt = null;
  for (let o = 12; o + 8 <= b.length;) {
    const id = b.toString('latin1', o, o + 4);
    const size = b.readUInt32LE(o + 4);
    const body = b.subarray(o + 8, Math.min(b.length, o + 8 + size));
    if (id === 'fmt ') fmt = { format: body.readUInt16LE(0), channels: body.readUInt16LE(2), rate: body.readUInt32LE(4), bits: body.readUInt16LE(14) };
    // QEMU's wav backend leaves the data size 0 until it closes the file: take the rest then
    if (id === 'data') return { ...fmt, data: size === 0 ? b.subarray(o + 8) : body };
    o += 8 + size + (size & 1);
  }
  throw new Error('no data chunk');
}

/**
 * sound/oracle: see the header.
 * @param {object} img  a guest image (ensureGuestImage)
 * @param {object} hooks  log, onConsoleLine
 */
export function soundOracleCheck(img, hooks = {}) {
  const name = `${img.platform.name}/sound/oracle`;
  const dir = mkdtempSync(join(tmpdir(), 'vmv-sound-'));
  const wav = join(dir, 'out.wav');
  const secs = 5;
  let summary = '';
  return runCheck(name, img, {
    ...hooks,
    modules: SOUND_MODULES, packages: ['alsa-utils'], programs: ['aplay'], data: ['/usr/share/alsa'],
    qemuArgs: ['-audiodev', `wav,id=snd0,path=${wav},out.frequency=48000,out.channels=2,out.format=s16`, '-device', 'virtio-sound-pci,audiodev=snd0'],
    tests: ['sound'], cmdline: ['sound.rate=48000', 'sound.channels=2', 'sound.format=S16_LE', `sound.secs=${secs}`],
    timeoutMs: 300_000,
    verify(r) {
      const v = r.values;
      if (v['sound.done'] !== '1') return ['the guest did not finish'];
      const e = [];
      const out = parseWav(readFileSync(wav));
      if (`${out.format}/${out.channels}/${out.rate}/${out.bits}` !== '1/2/48000/16') e.push(`QEMU's WAV format ${JSON.stringify(out)}`);
      const clipLen = Number(v['sound.clip.bytes']);
      // the guest's clip is not on the host: found by its md5 at every offset where its first bytes could start
      let found = null;
      for (let at = 0; at + clipLen <= out.data.length; at += 4) {
        if (out.data[at] === 0 && out.data[at + 1] === 0 && out.data[at + 2] === 0 && out.data[at + 3] === 0) continue;
        if (md5(out.data.subarray(at, at + clipLen)) === v['sound.clip.md5']) {
          found = { at, silentAround: out.data.subarray(0, at).every((x) => x === 0) && out.data.subarray(at + clipLen).every((x) => x === 0) };
        }
        break;
      }
      if (!found) e.push(`the clip (md5 ${v['sound.clip.md5']}, ${clipLen} bytes) is not in QEMU's output (${out.data.length} bytes)`);
      else if (!found.silentAround) e.push('QEMU\'s output holds more than the clip and silence');
      const took = Number(v['sound.play.t1']) - Number(v['sound.play.t0']);
      summary = `aplay -l: ${v['sound.cards']} card(s); ${clipLen} bytes (${secs} s S16_LE 48 kHz stereo) played in ${took.toFixed(2)} s; `
        + `QEMU's WAV: ${out.data.length} bytes, the clip at byte ${found?.at}, silence around it: ${found?.silentAround}`;
      return e;
    },
    summary: () => summary,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  });
}
