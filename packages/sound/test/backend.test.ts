/**
 * The host side's helpers: silence in every format's zero level, and routeStreams sending each
 * stream to its endpoint, the rest to the null backend's behaviour (discard, silence).
 */
import { describe, expect, it } from '@jest/globals';
import { Format, fillSilence, routeStreams } from '@vmv/sound';

describe('fillSilence', () => {
  it.each([
    ['U8', Format.U8, [0x80, 0x80, 0x80, 0x80, 0x80, 0x80]],
    ['S8', Format.S8, [0, 0, 0, 0, 0, 0]],
    ['S16', Format.S16, [0, 0, 0, 0, 0, 0]],
    ['U16', Format.U16, [0, 0x80, 0, 0x80, 0, 0x80]],
    ['U18_3', Format.U18_3, [0, 0, 0x02, 0, 0, 0x02]],
    ['U20_3', Format.U20_3, [0, 0, 0x08, 0, 0, 0x08]],
    ['U24_3', Format.U24_3, [0, 0, 0x80, 0, 0, 0x80]],
    ['U20', Format.U20, [0, 0, 0x08, 0, 0, 0]],
    ['U24', Format.U24, [0, 0, 0x80, 0, 0, 0]],
    ['U32', Format.U32, [0, 0, 0, 0x80, 0, 0]],
    ['MU_LAW', Format.MU_LAW, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
    ['A_LAW', Format.A_LAW, [0xd5, 0xd5, 0xd5, 0xd5, 0xd5, 0xd5]],
    ['FLOAT', Format.FLOAT, [0, 0, 0, 0, 0, 0]],
  ])('%s', (_name, format, bytes) => {
    const b = new Uint8Array(6).fill(0x33);
    fillSilence(b, format);
    expect(Array.from(b)).toEqual(bytes);
  });
});

describe('routeStreams', () => {
  it('each stream to its endpoint; a stream without one, or an endpoint without the method, behaves as the null backend', () => {
    const got: string[] = [];
    const backend = routeStreams({
      0: { write: (f, done) => (got.push(`write ${f.length}`), done()), prepare: (p) => got.push(`prepare ${p.rate}`), start: () => got.push('start'), stop: () => got.push('stop'), release: () => got.push('release'), latencyBytes: () => 7 },
      1: { prepare: () => got.push('prepare 1') },
    });
    const params = { format: Format.U8, rate: 8000, channels: 1, frameBytes: 1, bufferBytes: 64, periodBytes: 16 };
    backend.prepare!(0, params);
    backend.prepare!(1, params);
    backend.start!(0);
    backend.write(0, new Uint8Array(4), () => got.push('done'));
    backend.write(2, new Uint8Array(4), () => got.push('discarded'));
    const into = new Uint8Array(3);
    backend.read(1, into, () => got.push('silence'));
    expect(Array.from(into)).toEqual([0x80, 0x80, 0x80]); // U8's, as prepared
    backend.stop!(0);
    backend.release!(0);
    backend.start!(5);
    expect(backend.latencyBytes!(0)).toBe(7);
    expect(backend.latencyBytes!(1)).toBe(0);
    expect(got).toEqual(['prepare 8000', 'prepare 1', 'start', 'write 4', 'done', 'discarded', 'silence', 'stop', 'release']);
  });
});
