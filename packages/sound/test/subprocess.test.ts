/**
 * `aplay` and `arecord` as stream endpoints, driven here through ALSA's own plugins instead of a
 * sound card: playback into the `file` plugin (raw frames written to a file, the null PCM behind),
 * capture from its `infile` (a known clip). The guest's frames come out of aplay byte for byte, and
 * the clip reaches the guest's capture buffers byte for byte. alsa-utils is installed first
 * (tools/scripts/ensure-apt.sh, as root: CI); skipped only where it is missing and cannot be.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Format, Request, SoundQueue, SoundStatus, routeStreams } from '@vmv/sound';
import { CaptureProcess, PlaybackProcess, alsaArgs } from '@vmv/sound/node';
import { Harness, clip, pcm } from './support/harness';

spawnSync('bash', [join(__dirname, '..', '..', '..', 'tools', 'scripts', 'ensure-apt.sh'), 'alsa-utils=aplay', 'alsa-utils=arecord'], { stdio: 'inherit' });
const hasAlsa = spawnSync('aplay', ['--version']).status === 0 && spawnSync('arecord', ['--version']).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'vmv-sound-alsa-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const PERIOD = 1920;

async function until(h: Harness, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 20_000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 1));
    h.clock.advance(1);
  }
  throw new Error('until: never');
}

it('alsaArgs: raw frames of the stream\'s format, rate and channels', () => {
  const p = { format: Format.S24_3, rate: 44100, channels: 6, frameBytes: 18, bufferBytes: 18 * 100, periodBytes: 18 * 25 };
  expect(alsaArgs(p)).toEqual(['-q', '-t', 'raw', '-f', 'S24_3LE', '-r', '44100', '-c', '6', '-']);
  expect(alsaArgs({ ...p, format: Format.FLOAT }, 'null')).toEqual(['-q', '-t', 'raw', '-f', 'FLOAT_LE', '-r', '44100', '-c', '6', '-D', 'null', '-']);
});

(hasAlsa ? describe : describe.skip)('through ALSA (alsa-utils installed)', () => {
  it('PlaybackProcess: the frames the guest played come out of aplay byte for byte', async () => {
    const out = join(dir, 'played.raw');
    const speakers = new PlaybackProcess({ device: `file:FILE=${out},FORMAT=raw` });
    const h = new Harness({ backend: routeStreams({ 0: speakers }) });
    const data = clip(PERIOD * 25, 13); // 250 ms
    h.startStream(0);
    let sent = 0;
    let done = 0;
    const send = () => {
      h.tx(0, data.subarray(sent, sent + PERIOD));
      sent += PERIOD;
      h.kick(SoundQueue.TXQ);
    };
    for (let i = 0; i < 4; i++) send();
    await until(h, () => {
      for (const c of h.completed(SoundQueue.TXQ)) {
        expect(c.status).toBe(SoundStatus.OK);
        done++;
        if (sent < data.length) send();
      }
      return done === 25;
    });
    for (const c of [Request.PCM_STOP, Request.PCM_RELEASE]) expect(h.status(pcm(c, 0))).toBe(SoundStatus.OK);
    await speakers.close();
    const file = readFileSync(out);
    // aplay pads its last period with silence
    expect(file.subarray(0, data.length).equals(Buffer.from(data))).toBe(true);
    expect(file.subarray(data.length).every((b) => b === 0)).toBe(true);
  }, 60_000);

  it('CaptureProcess: a clip fed to arecord reaches the guest byte for byte', async () => {
    const data = clip(PERIOD * 8, 17);
    const input = join(dir, 'clip.raw');
    writeFileSync(input, data);
    const conf = join(dir, 'alsa.conf');
    writeFileSync(conf, `</usr/share/alsa/alsa.conf>\npcm.vmvclip { type file slave.pcm null file "/dev/null" infile "${input}" format raw }\n`);
    const microphone = new CaptureProcess({ device: 'vmvclip', env: { ALSA_CONFIG_PATH: conf } });
    const h = new Harness({ backend: routeStreams({ 1: microphone }) });
    h.prepareStream(1);
    for (let i = 0; i < 4; i++) h.rx(1, PERIOD);
    h.kick(SoundQueue.RXQ);
    h.startStream(1, {}, true);
    const got: Uint8Array[] = [];
    await until(h, () => {
      for (const c of h.completed(SoundQueue.RXQ)) {
        expect(c.status).toBe(SoundStatus.OK);
        got.push(c.frames);
        if (got.length < 8) {
          h.rx(1, PERIOD);
          h.kick(SoundQueue.RXQ);
        }
      }
      return got.length === 8;
    });
    expect(Buffer.concat(got).equals(Buffer.from(data))).toBe(true);
    for (const c of [Request.PCM_STOP, Request.PCM_RELEASE]) expect(h.status(pcm(c, 1))).toBe(SoundStatus.OK);
    await microphone.close();
    expect(microphone.process).toBeNull();
  }, 60_000);

  it('before PREPARE, or once released, the endpoints answer IO_ERR', async () => {
    const errors: unknown[] = [];
    const speakers = new PlaybackProcess({ device: 'null' });
    const h = new Harness({ backend: routeStreams({ 0: speakers }), onError: (e) => errors.push(e) });
    h.startStream(0);
    expect(h.status(pcm(Request.PCM_STOP, 0))).toBe(SoundStatus.OK);
    expect(h.status(pcm(Request.PCM_RELEASE, 0))).toBe(SoundStatus.OK);
    expect(speakers.process).toBeNull();
    const read: unknown[] = [];
    new CaptureProcess().read(new Uint8Array(4), (e) => read.push(e));
    expect(String(read[0])).toMatch(/not running/);
    const write: unknown[] = [];
    speakers.write(new Uint8Array(4), (e) => write.push(e));
    expect(String(write[0])).toMatch(/not running/);
    await speakers.close();
    expect(errors).toEqual([]);
  });
});
