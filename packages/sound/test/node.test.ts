/**
 * `@vmv/sound/node` through the device, on real files and streams (time on the fake clock): the
 * WAV writer's file is the exact header and byte for byte the frames played; the WAV reader gives
 * the guest exactly a file's frames, then silence; a slow Writable holds the guest's buffers
 * (nothing dropped, nothing piled up) and its buffered bytes are the latency reported; a Readable
 * is read only as the guest's buffers ask.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { Format, Request, SoundQueue, SoundStatus, routeStreams } from '@vmv/sound';
import { ReadableSource, WAV_HEADER_SIZE, WavFileReader, WavFileWriter, WritableSink, parseWavHeader, wavHeader } from '@vmv/sound/node';
import { Harness, clip, pcm } from './support/harness';

const dir = mkdtempSync(join(tmpdir(), 'vmv-sound-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const { OK, IO_ERR } = SoundStatus;
const TX = SoundQueue.TXQ;
const RX = SoundQueue.RXQ;
const PERIOD = 1920;

/** Turns of the event loop (real I/O) and the fake clock, until `cond` holds. */
async function until(h: Harness, cond: () => boolean, stepMs = 1): Promise<void> {
  for (let i = 0; i < 100_000; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
    h.clock.advance(stepMs);
  }
  throw new Error('until: never');
}

/** Plays `data` on stream 0 in periods, the guest keeping four queued; returns when all completed. */
async function play(h: Harness, data: Uint8Array): Promise<number[]> {
  const statuses: number[] = [];
  let sent = 0;
  const send = () => {
    h.tx(0, data.subarray(sent, sent + PERIOD));
    sent += PERIOD;
    h.kick(TX);
  };
  for (let i = 0; i < 4 && sent < data.length; i++) send();
  const n = Math.ceil(data.length / PERIOD);
  await until(h, () => {
    for (const c of h.completed(TX)) {
      statuses.push(c.status!);
      if (sent < data.length) send();
    }
    return statuses.length === n;
  });
  return statuses;
}

describe('WAV headers', () => {
  it('the canonical 44 bytes, and parsed back', () => {
    const h = wavHeader(Format.S16, 48000, 2, 192000);
    expect(Buffer.from(h).toString('hex')).toBe('52494646' + '24ee0200' + '57415645' + '666d7420' + '10000000' + '0100' + '0200' + '80bb0000' + '00ee0200' + '0400' + '1000' + '64617461' + '00ee0200');
    expect(parseWavHeader(h)).toEqual({ format: Format.S16, rate: 48000, channels: 2, dataOffset: 44, dataBytes: 192000 });
    expect(parseWavHeader(wavHeader(Format.FLOAT, 44100, 1, 8))).toMatchObject({ format: Format.FLOAT, rate: 44100, channels: 1 });
    expect(() => wavHeader(Format.S24, 48000, 2, 0)).toThrow(RangeError);
    expect(() => wavHeader(Format.S16, 48000, 2, 2 ** 32)).toThrow(RangeError);
  });

  it('parses WAVE_FORMAT_EXTENSIBLE and skips other chunks; refuses what it cannot stream', () => {
    const fmt = new Uint8Array(8 + 40);
    const v = new DataView(fmt.buffer);
    fmt.set([0x66, 0x6d, 0x74, 0x20]);
    v.setUint32(4, 40, true);
    v.setUint16(8, 0xfffe, true);
    v.setUint16(10, 2, true);
    v.setUint32(12, 48000, true);
    v.setUint16(22, 24, true);
    v.setUint16(32, 1, true); // sub-format PCM
    const list = new Uint8Array([0x4c, 0x49, 0x53, 0x54, 3, 0, 0, 0, 1, 2, 3, 0]); // odd size, padded
    const data = new Uint8Array([0x64, 0x61, 0x74, 0x61, 6, 0, 0, 0]);
    const file = new Uint8Array([...wavHeader(Format.S16, 48000, 2, 0).subarray(0, 12), ...fmt, ...list, ...data]);
    expect(parseWavHeader(file)).toEqual({ format: Format.S24_3, rate: 48000, channels: 2, dataOffset: file.length, dataBytes: 6 });
    expect(() => parseWavHeader(new Uint8Array(12))).toThrow(/RIFF/);
    const bad = wavHeader(Format.S16, 48000, 2, 0);
    new DataView(bad.buffer).setUint32(24, 44000, true);
    expect(() => parseWavHeader(bad)).toThrow(/44000/);
    expect(() => parseWavHeader(wavHeader(Format.S16, 48000, 2, 0).subarray(0, 36))).toThrow(/data chunk/);
  });
});

describe('WavFileWriter', () => {
  it('the file is the header and exactly the frames played, sizes right after RELEASE', async () => {
    const path = join(dir, 'played.wav');
    const out = await WavFileWriter.create(path);
    const h = new Harness({ backend: routeStreams({ 0: out }) });
    const data = clip(48000 * 4, 3); // 1 s
    h.startStream(0);
    expect(await play(h, data)).toEqual(new Array(100).fill(OK));
    for (const c of [Request.PCM_STOP, Request.PCM_RELEASE]) expect(h.status(pcm(c, 0))).toBe(OK);
    await out.close();
    const file = new Uint8Array(readFileSync(path));
    expect(Buffer.from(file.subarray(0, WAV_HEADER_SIZE)).equals(Buffer.from(wavHeader(Format.S16, 48000, 2, data.length)))).toBe(true);
    expect(Buffer.from(file.subarray(WAV_HEADER_SIZE)).equals(Buffer.from(data))).toBe(true);
  });

  it('a stream prepared again in another format gets IO_ERR, not a file with mixed formats', async () => {
    const errors: unknown[] = [];
    const out = await WavFileWriter.create(join(dir, 'mixed.wav'));
    const h = new Harness({ backend: routeStreams({ 0: out }), onError: (e) => errors.push(e) });
    h.startStream(0);
    expect(await play(h, clip(PERIOD))).toEqual([OK]);
    for (const c of [Request.PCM_STOP, Request.PCM_RELEASE]) expect(h.status(pcm(c, 0))).toBe(OK);
    h.startStream(0, { rate: 6 });
    expect(await play(h, clip(PERIOD))).toEqual([IO_ERR]);
    expect(String(errors[0])).toMatch(/failed/);
    await out.close();
    expect(readFileSync(join(dir, 'mixed.wav')).length).toBe(WAV_HEADER_SIZE + PERIOD);
  });
});

describe('WavFileReader', () => {
  it('the guest captures exactly the file\'s frames, then silence', async () => {
    const data = clip(PERIOD * 5 + 100, 9);
    const path = join(dir, 'clip.wav');
    writeFileSync(path, Buffer.concat([wavHeader(Format.S16, 48000, 2, data.length), data]));
    const source = await WavFileReader.open(path);
    const h = new Harness({ backend: routeStreams({ 1: source }) });
    h.prepareStream(1);
    for (let i = 0; i < 4; i++) h.rx(1, PERIOD);
    h.kick(RX);
    h.startStream(1, {}, true);
    const got: Uint8Array[] = [];
    await until(h, () => {
      for (const c of h.completed(RX)) {
        expect(c.status).toBe(OK);
        got.push(c.frames);
        h.rx(1, PERIOD);
        h.kick(RX);
      }
      return got.length === 7;
    });
    const all = Buffer.concat(got);
    expect(all.subarray(0, data.length).equals(Buffer.from(data))).toBe(true);
    expect(all.subarray(data.length).every((b) => b === 0)).toBe(true);
    await source.close();
  });

  it('a stream prepared in another format than the file\'s gets IO_ERR', async () => {
    const path = join(dir, 'mono.wav');
    writeFileSync(path, Buffer.concat([wavHeader(Format.S16, 48000, 1, 4), Buffer.alloc(4)]));
    const source = await WavFileReader.open(path);
    const h = new Harness({ backend: routeStreams({ 1: source }) });
    h.prepareStream(1);
    h.rx(1, PERIOD);
    h.kick(RX);
    h.startStream(1, {}, true);
    await until(h, () => h.completed(RX).some((c) => c.status === IO_ERR));
    await source.close();
    writeFileSync(join(dir, 'not.wav'), 'hello');
    await expect(WavFileReader.open(join(dir, 'not.wav'))).rejects.toThrow(RangeError);
  });
});

describe('WritableSink', () => {
  it('a slow Writable holds the guest\'s buffers: nothing dropped, its buffer bounded, every byte in order, latency its buffered bytes', async () => {
    const received: Buffer[] = [];
    const pending: (() => void)[] = [];
    let flowing = false;
    const slow = new Writable({
      highWaterMark: 4096,
      write(chunk: Buffer, _enc, cb) {
        received.push(chunk);
        if (flowing) cb();
        else pending.push(cb);
      },
    });
    const sink = new WritableSink(slow);
    const h = new Harness({ backend: routeStreams({ 0: sink }) });
    const data = clip(PERIOD * 20, 5);
    h.startStream(0);
    for (let i = 0; i < 16; i++) h.tx(0, data.subarray(i * PERIOD, (i + 1) * PERIOD));
    h.kick(TX);
    // the consumer is stuck: after 200 ms of clock, the device has given it only what fits its
    // high-water mark (plus one), and holds the rest of the guest's buffers
    for (let i = 0; i < 200; i++) {
      h.clock.advance(1);
      await new Promise((r) => setImmediate(r));
    }
    const done = h.completed(TX);
    expect(done.length).toBeLessThanOrEqual(3);
    expect(slow.writableLength).toBeLessThanOrEqual(4096 + PERIOD);
    expect(h.device.stream(0).held).toBe(16 - done.length);
    expect(done.every((c) => c.latency === PERIOD || c.latency === 0 || c.latency! <= 4096 + PERIOD)).toBe(true);
    // it gets going again: all of it arrives, in order
    flowing = true;
    pending.splice(0).forEach((cb) => cb());
    let completed = done.length;
    for (let i = 16; i < 20; i++) h.tx(0, data.subarray(i * PERIOD, (i + 1) * PERIOD));
    h.kick(TX);
    await until(h, () => (completed += h.completed(TX).length) === 20);
    expect(Buffer.concat(received).equals(Buffer.from(data))).toBe(true);
    expect(sink.bytes).toBe(data.length);
  });

  it('latency_bytes is what the Writable still buffers', async () => {
    const held: (() => void)[] = [];
    const w = new Writable({ highWaterMark: 1 << 20, write: (_c, _e, cb) => held.push(cb) });
    const h = new Harness({ backend: routeStreams({ 0: new WritableSink(w) }) });
    h.startStream(0);
    h.tx(0, clip(PERIOD));
    h.tx(0, clip(PERIOD));
    h.kick(TX);
    h.clock.advance(20);
    expect(h.completed(TX).map((c) => c.latency)).toEqual([PERIOD, 2 * PERIOD]);
  });

  it('a Writable that failed: IO_ERR', async () => {
    const w = new Writable({ write: (_c, _e, cb) => cb(new Error('EPIPE')) });
    const h = new Harness({ backend: routeStreams({ 0: new WritableSink(w) }), onError: () => undefined });
    h.startStream(0);
    h.tx(0, clip(PERIOD));
    h.kick(TX);
    await until(h, () => w.destroyed);
    h.tx(0, clip(PERIOD));
    h.kick(TX);
    const statuses: (number | null)[] = [];
    await until(h, () => (statuses.push(...h.completed(TX).map((c) => c.status)), statuses.length === 2));
    expect(statuses[1]).toBe(IO_ERR);
  });
});

describe('ReadableSource', () => {
  it('the guest captures exactly what the Readable gives, read only as its buffers fill; silence after the end', async () => {
    const input = new PassThrough({ highWaterMark: 4096 });
    const data = clip(PERIOD * 6, 11);
    let written = 0;
    const produce = (): void => {
      // a producer that respects back-pressure
      while (written < data.length) {
        const ok = input.write(data.subarray(written, written + 1000));
        written = Math.min(data.length, written + 1000);
        if (!ok) {
          input.once('drain', produce);
          return;
        }
      }
      input.end();
    };
    produce();
    expect(written).toBeLessThan(data.length); // held back: nobody reads yet
    const source = new ReadableSource(input);
    const h = new Harness({ backend: routeStreams({ 1: source }) });
    h.prepareStream(1);
    for (let i = 0; i < 4; i++) h.rx(1, PERIOD);
    h.kick(RX);
    h.startStream(1, {}, true);
    const got: Uint8Array[] = [];
    await until(h, () => {
      for (const c of h.completed(RX)) {
        expect(c.status).toBe(OK);
        got.push(c.frames);
        h.rx(1, PERIOD);
        h.kick(RX);
      }
      return got.length === 8;
    });
    const all = Buffer.concat(got);
    expect(all.subarray(0, data.length).equals(Buffer.from(data))).toBe(true);
    expect(all.subarray(data.length).every((b) => b === 0)).toBe(true);
    expect(source.bytes).toBe(data.length);
    expect(source.silence).toBe(2 * PERIOD);
  });
});
