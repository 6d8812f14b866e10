// The virtio-snd device's real-guest tests (trixie: QEMU 11.1, kernel 7.3's virtio_snd, Debian's alsa-utils).
//   sound/oracle  QEMU's own virtio-sound-pci with a wav audiodev (48 kHz, stereo, s16): the guest plays a clip of
//                 random frames with aplay; the WAV file QEMU wrote holds exactly the clip (the clip found whole, in
//                 order, with only silence around it). How long aplay took is reported, not checked: QEMU's pacing
//                 is not under test. What our device will be held to, shown on QEMU's.
//   sound/pcm     vmv-vhost-user-sound (--backend wav) behind QEMU's vhost-user-snd-pci: the guest plays a 5 s clip
//                 (S16_LE, 48 kHz, stereo); the daemon's WAV output's data chunk is the clip byte for byte, then only
//                 the silence ALSA plays while aplay drains (QEMU's own device gets the same: sound/oracle); the pace:
//                 the WAV file's growth on the host, past the guest's first second (its ring buffer, filled at once),
//                 is the stream's rate within 5 % (never faster; slower only after an xrun the daemon counted, a guest
//                 starved by a loaded host; how long aplay took on the guest's clock is reported); then the
//                 guest records 2 s with arecord while the
//                 daemon plays a WAV file of random frames into its input: the guest's bytes are the file's.
//   sound/streams a layout of three streams (--layout: output S16_LE 48 kHz stereo and input on PCM device 0, output
//                 S32_LE 44.1 kHz mono on device 1; controls): aplay -l, arecord -l and amixer list what the layout
//                 says; two clips played at once on the two outputs land byte for byte in their WAV files; a clip
//                 stopped after about 1 s (aplay interrupted) and the next one played whole: the output holds a
//                 prefix of the first, then the second whole, only silence around; a clip fed through a pipe that
//                 stalls for 1.5 s (aplay underruns and recovers) lands whole, its two halves in order with only
//                 silence between; clip g the same way with aplay -T 10 s (ALSA does not stop the stream on its own):
//                 the device runs dry while the stream runs and reports an XRUN event into the guest's eventq (the
//                 daemon counts it), and g lands whole. The guest's ALSA does not surface that event: since Linux 6.8
//                 virtio_snd's pointer callback (snd_pcm_indirect) no longer reads the xrun flag the event sets; a clip played with aplay -i on a pty, paused 1 s in for 1.5 s with the space key and
//                 resumed (PCM_STOP, PCM_START), lands whole and took at least its length plus 1 s.
//                 The clips reach the guest on a virtio-blk disk, so the host knows every byte.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { runCheck } from './checks.mjs';
import { REPO_ROOT } from './util.mjs';

const require = createRequire(import.meta.url);

/** The daemon (built: packages/vhost-user-sound/dist). */
export const SOUND_DAEMON_BIN = join(REPO_ROOT, 'packages', 'vhost-user-sound', 'dist', 'cjs', 'bin.js');

/** The sound core and the driver, dependencies first (modules.dep of trixie's kernel). */
export const SOUND_MODULES = ['soundcore', 'snd', 'snd-timer', 'snd-pcm', 'virtio_snd'];

const md5 = (b) => createHash('md5').update(b).digest('hex');

/** @vmv/sound and its /node entry, built (packages/sound/dist): the WAV header the daemon writes and parses. */
const sound = () => require(join(REPO_ROOT, 'packages', 'sound', 'dist', 'cjs', 'index.js'));
const soundNode = () => require(join(REPO_ROOT, 'packages', 'sound', 'dist', 'cjs', 'node', 'index.js'));

/**
 * A WAV file's format (`format`: a virtio-snd VIRTIO_SND_PCM_FMT_* code) and its data chunk, through @vmv/sound's
 * parseWavHeader.
 * @param {Buffer} b  the file
 * @returns {{format: number, channels: number, rate: number, data: Buffer}}
 */
export function parseWav(b) {
  const { format, channels, rate, dataOffset, dataBytes } = soundNode().parseWavHeader(b);
  // QEMU's wav backend leaves the data size 0 until it closes the file: take the rest then
  return { format, channels, rate, data: dataBytes === 0 ? b.subarray(dataOffset) : b.subarray(dataOffset, dataOffset + dataBytes) };
}

/** `format/channels/rate` of a parsed WAV, for messages and comparisons. */
const wavFormat = (w) => `${w.format}/${w.channels}/${w.rate}`;

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
      if (wavFormat(out) !== `${sound().Format.S16}/2/48000`) e.push(`QEMU's WAV format ${wavFormat(out)} (format/channels/rate), not S16 stereo 48 kHz`);
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

/**
 * Reads `out` as the clips in `expected` order, each optionally preceded by silence (whole zero frames of `frame`
 * bytes), then only silence. A name ending in `*` may be cut short (a stream stopped mid-clip): as much of it as
 * matches. The clips' first frames are not zero (the caller makes sure), so silence and clip never blur.
 * @param {Buffer} out  the WAV data
 * @param {Array<[string, Buffer]>} expected
 * @returns {{ok: boolean, got: string[]}} what was found, in order (`name(bytes)` for a part clip)
 */
export function readClips(out, expected, frame) {
  let p = 0;
  const got = [];
  const silence = () => { while (p + frame <= out.length && out.subarray(p, p + frame).every((x) => x === 0)) p += frame; };
  for (const [name, clip] of expected) {
    silence();
    if (name.endsWith('*')) {
      let n = 0;
      while (n + frame <= clip.length && p + n + frame <= out.length && out.subarray(p + n, p + n + frame).equals(clip.subarray(n, n + frame))) n += frame;
      if (n === 0) return { ok: false, got: [...got, `no ${name} at byte ${p}`] };
      got.push(`${name.slice(0, -1)}(${n})`);
      p += n;
    } else {
      if (!out.subarray(p, p + clip.length).equals(clip)) return { ok: false, got: [...got, `no ${name} at byte ${p}`] };
      got.push(name);
      p += clip.length;
    }
  }
  silence();
  if (p !== out.length) return { ok: false, got: [...got, `${out.length - p} bytes of something else at byte ${p}`] };
  return { ok: true, got };
}

/**
 * sound/pcm: see the header.
 * @param {object} img  a guest image (ensureGuestImage)
 * @param {object} hooks  log, onConsoleLine
 */
export function soundPcmCheck(img, hooks = {}) {
  const name = `${img.platform.name}/sound/pcm`;
  const dir = mkdtempSync(join(tmpdir(), 'vmv-sound-'));
  const output = join(dir, 'played.wav');
  const input = join(dir, 'clip.wav');
  const secs = 5;
  const capFrames = 2 * 48000;
  const capture = randomBytes(capFrames * 4);
  writeFileSync(input, Buffer.concat([soundNode().wavHeader(sound().Format.S16, 48000, 2, capture.length), capture]));
  // the output file's size while the guest plays: [ms, bytes]
  const growth = [];
  let sampler = null;
  const size = () => { try { return statSync(output).size; } catch { return 0; } };
  let summary = '';
  return runCheck(name, img, {
    ...hooks,
    modules: SOUND_MODULES, packages: ['alsa-utils'], programs: ['aplay', 'arecord'], data: ['/usr/share/alsa'],
    devices: [{
      name: 'vmv-sound',
      argv: ({ socket }) => [process.execPath, SOUND_DAEMON_BIN, '--socket', socket, '--backend', 'wav', '--output', output, '--input', input],
      // controls=on: QEMU sizes the config for VIRTIO_SND_F_CTLS, which the daemon offers (off, the driver reads the
      // controls count past the config space and fails its probe)
      qemuDevice: (c) => `vhost-user-snd-pci,chardev=${c},controls=on`,
    }],
    tests: ['sound'], cmdline: ['sound.rate=48000', 'sound.channels=2', 'sound.format=S16_LE', `sound.secs=${secs}`, `sound.capture-frames=${capFrames}`],
    timeoutMs: 300_000,
    onConsoleLine(line, secs2, run) {
      hooks.onConsoleLine?.(line, secs2, run);
      if (line.startsWith('GUEST-VALUE sound.clip.md5') && sampler === null) sampler = setInterval(() => growth.push([performance.now(), size()]), 10);
      if (line.startsWith('GUEST-VALUE sound.play.t1')) clearInterval(sampler);
    },
    verify(r) {
      clearInterval(sampler);
      const v = r.values;
      if (v['sound.done'] !== '1') return ['the guest did not finish'];
      const e = [];
      const out = parseWav(readFileSync(output));
      if (wavFormat(out) !== `${sound().Format.S16}/2/48000`) e.push(`the daemon's WAV format ${wavFormat(out)} (format/channels/rate), not S16 stereo 48 kHz`);
      const clipLen = Number(v['sound.clip.bytes']);
      if (out.data.length < clipLen) e.push(`the daemon's WAV data chunk holds ${out.data.length} bytes; the guest played ${clipLen}`);
      if (md5(out.data.subarray(0, clipLen)) !== v['sound.clip.md5']) e.push(`the daemon's WAV data (md5 ${md5(out.data.subarray(0, clipLen))}) does not start with the guest's clip (md5 ${v['sound.clip.md5']})`);
      if (!out.data.subarray(clipLen).every((x) => x === 0)) e.push(`after the clip the daemon's WAV holds more than silence (${out.data.length - clipLen} bytes)`);
      const took = Number(v['sound.play.t1']) - Number(v['sound.play.t0']);
      // the pace: from 1.2 s of data (past the guest's 1 s ring buffer, written at once) to the whole clip
      const bps = 48000 * 4;
      const when = (bytes) => growth.find(([, n]) => n >= 44 + bytes)?.[0];
      const t0 = when(1.2 * bps);
      const t1 = when(clipLen);
      const rate = t0 !== undefined && t1 !== undefined && t1 > t0 ? (clipLen - 1.2 * bps) / ((t1 - t0) / 1000) : NaN;
      // faster than the stream's rate is always wrong; slower only without an xrun: a guest starved by a loaded host
      // that let the device run dry is answered with an xrun and a restart, not by speeding up (the daemon's stop line)
      const exit = r.backendExits.find((x) => x.backend === 'vmv-sound');
      const xruns = Number(/stream 0 \(output\): \d+ bytes in \d+ buffers, (\d+) xruns/.exec(exit ? readFileSync(exit.log, 'utf8') : '')?.[1] ?? NaN);
      if (!Number.isInteger(xruns)) e.push('the daemon logged no count for stream 0 at stop');
      else if (!(rate / bps <= 1.05 && (xruns > 0 || rate / bps >= 0.95))) e.push(`the daemon wrote the clip at ${Math.round(rate)} B/s, not the stream's ${bps} B/s within 5 % (${xruns} xruns, ${growth.length} samples)`);
      if (v['sound.capture.bytes'] !== String(capture.length)) e.push(`the guest captured ${v['sound.capture.bytes']} bytes, wanted ${capture.length}`);
      if (v['sound.capture.md5'] !== md5(capture)) e.push(`the guest's capture (md5 ${v['sound.capture.md5']}) is not the host's clip (md5 ${md5(capture)})`);
      summary = `playback: ${clipLen} bytes (${secs} s S16_LE 48 kHz stereo), aplay ${took.toFixed(2)} s, the daemon's pace ${(rate / bps).toFixed(3)} of real time (${xruns} xruns), the WAV data chunk the clip byte for byte `
        + `then ${out.data.length - clipLen} bytes of silence; `
        + `capture: ${capture.length} bytes (2 s) byte for byte`;
      return e;
    },
    summary: () => summary,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  });
}

/**
 * sound/streams: see the header.
 * @param {object} img  a guest image (ensureGuestImage)
 * @param {object} hooks  log, onConsoleLine
 */
export function soundStreamsCheck(img, hooks = {}) {
  const name = `${img.platform.name}/sound/streams`;
  const dir = mkdtempSync(join(tmpdir(), 'vmv-sound-'));
  const outputs = [join(dir, 'out0.wav'), join(dir, 'out1.wav')];
  const layout = {
    streams: [
      { direction: 'output', formats: ['S16'], rates: [48000], channels: [2, 2] },
      { direction: 'input', formats: ['S16'], rates: [48000], channels: [2, 2] },
      { direction: 'output', formats: ['S32'], rates: [44100], channels: [1, 1], hdaFnNid: 1 },
    ],
    chmaps: [{ direction: 'output', positions: ['FL', 'FR'] }],
    controls: true,
  };
  // 4 KiB-aligned clips (the guest reads them with O_DIRECT): frames of 4 bytes on both outputs
  // (the first frame of each, and of e's second half, made non-zero: silence before a clip is told from the clip)
  const clip = (secs, rate) => {
    const b = randomBytes(Math.floor((secs * rate * 4) / 4096) * 4096);
    b.fill(0x55, 0, 4).fill(0x55, b.length / 2, b.length / 2 + 4);
    return b;
  };
  const clips = { a: clip(2, 48000), b: clip(2, 44100), c: clip(3, 48000), d: clip(1, 48000), e: clip(2, 48000), g: clip(2, 48000), f: clip(3, 48000) };
  const disk = join(dir, 'clips.raw');
  let off = 0;
  const at = {};
  for (const [n, b] of Object.entries(clips)) {
    at[n] = off;
    off += b.length;
  }
  writeFileSync(disk, Buffer.concat([...Object.values(clips), Buffer.alloc(4096)]));
  let summary = '';
  return runCheck(name, img, {
    ...hooks,
    modules: SOUND_MODULES, packages: ['alsa-utils', 'socat'], programs: ['aplay', 'arecord', 'amixer', 'socat'], data: ['/usr/share/alsa'],
    disks: [{ backend: 'builtin', image: disk, readonly: true }],
    devices: [{
      name: 'vmv-sound',
      argv: ({ socket }) => [process.execPath, SOUND_DAEMON_BIN, '--socket', socket, '--backend', 'wav', '--layout', JSON.stringify(layout),
        '--output', outputs[0], '--output', outputs[1]],
      qemuDevice: (c) => `vhost-user-snd-pci,chardev=${c},controls=on`,
    }],
    tests: ['sound-streams'],
    cmdline: [`snd.clips=${Object.entries(clips).map(([n, b]) => `${n}:${at[n]}:${b.length}`).join(',')}`],
    timeoutMs: 300_000,
    verify(r) {
      const v = r.values;
      if (v['snd.done'] !== '1') return ['the guest did not finish'];
      const e = [];
      const eq = (what, got, want) => { if (String(got) !== String(want)) e.push(`${what}: ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`); };
      eq('aplay -l', v['snd.aplay'], 'card 0: SoundCard, device 0: virtio-snd;card 0: SoundCard, device 1: virtio-snd;');
      eq('arecord -l', v['snd.arecord'], 'card 0: SoundCard, device 0: virtio-snd;');
      // the layout's controls (a volume and a switch per stream); the kernel adds its own channel-map controls
      const controls = (v['snd.controls'] ?? '').split(';').filter((c) => c && !c.includes('Channel Map')).sort();
      eq('amixer controls (the layout\'s)', controls.join(', '),
        ['Capture Switch', 'Capture Volume', 'PCM Playback Switch', 'PCM Playback Switch,index=1', 'PCM Playback Volume', 'PCM Playback Volume,index=1'].join(', '));
      const out0 = parseWav(readFileSync(outputs[0]));
      const out1 = parseWav(readFileSync(outputs[1]));
      eq('output 0 format (format/channels/rate)', wavFormat(out0), `${sound().Format.S16}/2/48000`);
      eq('output 1 format (format/channels/rate)', wavFormat(out1), `${sound().Format.S32}/1/44100`);
      const r1 = readClips(out1.data, [['b', clips.b]], 4);
      if (!r1.ok) e.push(`output 1: ${r1.got.join(', ')} (clip b, ${clips.b.length} bytes, and silence expected)`);
      // output 0: a, a prefix of c (stopped), d, then e's and g's two halves (silence may come between them), f
      const halves = (n) => [[`${n}1`, clips[n].subarray(0, clips[n].length / 2)], [`${n}2`, clips[n].subarray(clips[n].length / 2)]];
      const r0 = readClips(out0.data, [['a', clips.a], ['c*', clips.c], ['d', clips.d], ...halves('e'), ...halves('g'), ['f', clips.f]], 4);
      if (!r0.ok) e.push(`output 0: ${r0.got.join(', ')} (expected a, a prefix of c, d, e, g, f)`);
      eq('aplay reported the underrun of the stalled pipe (clip e)', Number(v['snd.starve']) >= 1, true);
      // clip g's stall: the device ran dry while the stream ran (ALSA's own stop 10 s away) and reported it
      const exit = r.backendExits.find((x) => x.backend === 'vmv-sound');
      const log = exit ? readFileSync(exit.log, 'utf8') : '';
      const reported = Number(/stream 0 \(output\): \d+ bytes in \d+ buffers, \d+ xruns \((\d+) reported/.exec(log)?.[1] ?? NaN);
      const [, delivered, dropped] = /events: (\d+) delivered into the guest's eventq, (\d+) dropped/.exec(log) ?? [];
      eq('XRUN events the daemon sent for stream 0 (at least clip g\'s)', reported >= 1, true);
      eq('events delivered into the guest\'s eventq (at least the XRUN), none dropped', `${Number(delivered) >= reported}/${dropped}`, 'true/0');
      eq('aplay -i showed the pause', Number(v['snd.pause.seen']) >= 1, true);
      if (!(Number(v['snd.pause.secs']) >= clips.f.length / 192000 + 1)) e.push(`the paused clip took ${v['snd.pause.secs']} s: not its ${clips.f.length / 192000} s plus the pause`);
      summary = `aplay -l 2 devices, arecord -l 1, amixer the layout's ${controls.length} controls; clips a and b at once byte for byte; `
        + `output 0: ${r0.got.join(', ')} (c stopped after about 1 s; e through a pipe stalled 1.5 s, aplay reported ${v['snd.starve']} underrun(s); g stalled under aplay -T, ${reported} XRUN event(s) reported; f paused and resumed, ${v['snd.pause.secs']} s)`;
      return e;
    },
    summary: () => summary,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  });
}
