/**
 * The control queue, request by request (VIRTIO 1.2 §5.14.6): item information with its range,
 * size and response checks, JACK_REMAP, PCM_SET_PARAMS against what PCM_INFO offered, every
 * (state, command) pair of the PCM lifecycle (§5.14.6.6.1), control elements, and the bytes of
 * each information structure.
 */
import { describe, expect, it } from '@jest/globals';
import { Feature, featureBit } from '@vmv/device-trait';
import { ControlRole, ControlType, Direction, Event, Format, PCM_TRANSITIONS, PcmState, Request, SoundDevice, SoundFeature, SoundQueue, SoundStatus } from '@vmv/sound';
import type { PcmCommand, PcmStateName, ValidControl } from '@vmv/sound';
import { Harness, pcm, query, setParams, u32s } from './support/harness';

const { OK, BAD_MSG, NOT_SUPP } = SoundStatus;
const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

describe('configuration and features', () => {
  it('the config space counts jacks, streams, chmaps and controls; CTLS offered with controls', () => {
    const d = new SoundDevice({ layout: { jacks: [{}, { direction: 'input' }] } });
    const cfg = new Uint8Array(16);
    d.readConfig(0, cfg);
    expect(Array.from(new Uint32Array(cfg.buffer))).toEqual([2, 2, 1, 4]);
    expect(d.deviceId).toBe(25);
    expect(d.deviceFeatures & featureBit(SoundFeature.CTLS)).not.toBe(0n);
    expect(d.deviceFeatures & featureBit(Feature.VERSION_1)).not.toBe(0n);
    d.writeConfig();
    d.readConfig(0, cfg);
    expect(cfg[0]).toBe(2);
    const none = new SoundDevice({ layout: { controls: false } });
    expect(none.deviceFeatures & featureBit(SoundFeature.CTLS)).toBe(0n);
    none.readConfig(12, cfg.subarray(0, 4));
    expect(cfg[0]).toBe(0);
  });

  it('checks its options and layout', () => {
    expect(() => new SoundDevice({ queueSize: 3 })).toThrow(RangeError);
    expect(() => new SoundDevice({ eventCapacity: 0 })).toThrow(RangeError);
    expect(() => new SoundDevice(null as never)).toThrow(TypeError);
    expect(() => new SoundDevice({ layout: { streams: [{ direction: 'sideways' as never }] } })).toThrow(/direction/);
    expect(() => new SoundDevice({ layout: { streams: [{ direction: 'output', formats: ['S17' as never] }] } })).toThrow(/format/);
    expect(() => new SoundDevice({ layout: { streams: [{ direction: 'output', formats: [] }] } })).toThrow(/formats/);
    expect(() => new SoundDevice({ layout: { streams: [{ direction: 'output', rates: [44000] }] } })).toThrow(/44000/);
    expect(() => new SoundDevice({ layout: { streams: [{ direction: 'output', channels: [3, 2] }] } })).toThrow(/channels/);
    expect(() => new SoundDevice({ layout: { chmaps: [{ direction: 'output', positions: [] }] } })).toThrow(/positions/);
    expect(() => new SoundDevice({ layout: { chmaps: [{ direction: 'output', positions: ['XX' as never] }] } })).toThrow(/XX/);
    expect(() => new SoundDevice({ layout: { jacks: [{ defconf: -1 }] } })).toThrow(/defconf/);
    expect(() => new SoundDevice({ layout: { streams: new Array(65).fill({ direction: 'output' }) } })).toThrow(/64/);
    expect(() => new SoundDevice().stream(2)).toThrow(RangeError);
  });
});

describe('item information (§5.14.6.1)', () => {
  it('PCM_INFO: vhost-device-sound defaults, every byte', () => {
    const h = new Harness();
    const r = h.control(query(Request.PCM_INFO, 0, 2, 32), 4 + 64);
    expect(r.length).toBe(68);
    const v = dv(r);
    expect(v.getUint32(0, true)).toBe(OK);
    for (const [i, direction] of [[0, Direction.OUTPUT], [1, Direction.INPUT]] as const) {
      const o = 4 + 32 * i;
      expect(v.getUint32(o, true)).toBe(0); // hda_fn_nid
      expect(v.getUint32(o + 4, true)).toBe(1 << 4); // EVT_XRUNS
      expect(v.getBigUint64(o + 8, true)).toBe((1n << 4n) | (1n << 5n) | (1n << 15n) | (1n << 17n)); // U8 S16 S24 S32
      expect(v.getBigUint64(o + 16, true)).toBe(0b11111110n); // 8000..48000: codes 1 to 7
      expect([r[o + 24], r[o + 25], r[o + 26]]).toEqual([direction, 1, 6]);
      expect(Array.from(r.subarray(o + 27, o + 32))).toEqual([0, 0, 0, 0, 0]); // padding
    }
  });

  it('JACK_INFO, CHMAP_INFO and CTL_INFO structures', () => {
    const h = new Harness({ layout: { jacks: [{ remap: true }, { direction: 'input', connected: false, hdaFnNid: 3 }], chmaps: [{ direction: 'input', positions: ['MONO'] }, { direction: 'output', positions: ['FL', 'FR', 'LFE'] }] } });
    const j = h.control(query(Request.JACK_INFO, 0, 2, 24), 4 + 48);
    expect(Array.from(new Uint32Array(j.buffer.slice(4, 20)))).toEqual([0, 1, 0x200010, 0x1c]);
    expect(Array.from(j.subarray(20, 28))).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(new Uint32Array(j.buffer.slice(28, 44)))).toEqual([3, 0, 0xa00010, 0x24]);
    expect(j[44]).toBe(0);
    const c = h.control(query(Request.CHMAP_INFO, 1, 1, 24), 4 + 24);
    expect(Array.from(c.subarray(4))).toEqual([0, 0, 0, 0, Direction.OUTPUT, 3, 3, 4, 8, ...new Array(15).fill(0)]);
    const k = h.control(query(Request.CTL_INFO, 0, 4, 96), 4 + 4 * 96);
    const names: string[] = [];
    for (let i = 0; i < 4; i++) {
      const o = 4 + 96 * i;
      const v = dv(k.subarray(o, o + 96));
      const name = new TextDecoder().decode(k.subarray(o + 24, o + 68)).replace(/\0+$/, '');
      names.push(name);
      const volume = i % 2 === 0;
      const dir = i < 2 ? Direction.OUTPUT : Direction.INPUT;
      expect(v.getUint32(4, true)).toBe(((volume ? ControlRole.VOLUME : ControlRole.MUTE) << 1) | dir);
      expect(v.getUint32(8, true)).toBe(volume ? ControlType.INTEGER : ControlType.BOOLEAN);
      expect(v.getUint32(12, true)).toBe(3); // READ | WRITE
      expect(v.getUint32(16, true)).toBe(1); // count
      expect(v.getUint32(20, true)).toBe(0); // index
      expect([v.getUint32(72, true), v.getUint32(76, true), v.getUint32(80, true)]).toEqual([0, volume ? 100 : 1, 1]);
      expect(k[o + 67]).toBe(0); // 0-terminated
    }
    expect(names).toEqual(['PCM Playback Volume', 'PCM Playback Switch', 'Capture Volume', 'Capture Switch']);
  });

  it('start_id + count beyond the items, a size below the structure, a short response: BAD_MSG', () => {
    const h = new Harness();
    expect(h.status(query(Request.PCM_INFO, 1, 2, 32), 4 + 64)).toBe(BAD_MSG);
    expect(h.status(query(Request.PCM_INFO, 0xffff_ffff, 1, 32), 100)).toBe(BAD_MSG);
    expect(h.status(query(Request.PCM_INFO, 2, 0, 32))).toBe(OK); // nothing asked, nothing written
    expect(h.status(query(Request.PCM_INFO, 0, 1, 31), 100)).toBe(BAD_MSG);
    expect(h.status(query(Request.PCM_INFO, 0, 2, 32), 4 + 63)).toBe(BAD_MSG);
    expect(h.status(query(Request.JACK_INFO, 0, 1, 24), 100)).toBe(BAD_MSG); // no jacks
    expect(h.status(query(Request.PCM_INFO, 0, 1, 32).subarray(0, 12), 100)).toBe(BAD_MSG);
    expect(h.status(u32s(Request.PCM_INFO), 100)).toBe(BAD_MSG);
    expect(h.status(new Uint8Array(3), 100)).toBe(BAD_MSG);
    expect(h.device.stats.refused).toBe(8);
  });

  it('a size above the structure: each item padded with zeros to it', () => {
    const h = new Harness();
    const r = h.control(query(Request.PCM_INFO, 1, 1, 40), 4 + 40);
    expect(r.length).toBe(44);
    expect(r[4 + 24]).toBe(Direction.INPUT);
    expect(Array.from(r.subarray(36))).toEqual(new Array(8).fill(0));
  });

  it('a response with no room for a status is returned empty; a response in pieces is fine', () => {
    const h = new Harness();
    expect(h.control(query(Request.PCM_INFO, 0, 1, 32), 3).length).toBe(0);
    expect(h.device.stats.unanswerable).toBe(1);
    const r = h.control(query(Request.PCM_INFO, 0, 1, 32), 0, [3, 5, 28]);
    expect(dv(r).getUint32(0, true)).toBe(OK);
    expect(r[4 + 24]).toBe(Direction.OUTPUT);
  });

  it('unknown request codes: NOT_SUPP', () => {
    const h = new Harness();
    for (const code of [0, 3, 0x106, 0x201, 0x307, 0x1000, 0x8000, 0xffff_ffff]) expect(h.status(u32s(code, 0, 0, 0))).toBe(NOT_SUPP);
  });
});

describe('JACK_REMAP (§5.14.6.4.2)', () => {
  it('changes the association and sequence of a jack that offers REMAP; refuses the rest', () => {
    const h = new Harness({ layout: { jacks: [{ remap: true }, {}] } });
    expect(h.status(u32s(Request.JACK_REMAP, 0, 5, 3))).toBe(OK);
    expect(h.device.layout.jacks[0]!.defconf).toBe(0x200053);
    const j = h.control(query(Request.JACK_INFO, 0, 1, 24), 28);
    expect(dv(j).getUint32(12, true)).toBe(0x200053);
    expect(h.status(u32s(Request.JACK_REMAP, 1, 1, 1))).toBe(NOT_SUPP);
    expect(h.status(u32s(Request.JACK_REMAP, 2, 1, 1))).toBe(BAD_MSG);
    expect(h.status(u32s(Request.JACK_REMAP, 0, 16, 0))).toBe(BAD_MSG);
    expect(h.status(u32s(Request.JACK_REMAP, 0, 1))).toBe(BAD_MSG);
    expect(h.device.layout.jacks[0]!.defconf).toBe(0x200053);
  });
});

describe('PCM_SET_PARAMS (§5.14.6.6.3): only what PCM_INFO offered', () => {
  const layout = { streams: [{ direction: 'output' as const, formats: ['S16' as const, 'FLOAT' as const], rates: [44100, 48000], channels: [1, 2] as [number, number] }] };
  it.each([
    ['the offered stereo S16 48 kHz', {}, OK],
    ['FLOAT 44.1 kHz mono', { format: Format.FLOAT, rate: 6, channels: 1, bufferBytes: 4 * 1764, periodBytes: 1764 }, OK],
    ['no features', { features: 0 }, OK],
    ['a stream that does not exist', { stream: 1 }, BAD_MSG],
    ['a format not offered', { format: Format.S32 }, NOT_SUPP],
    ['a format the spec does not define', { format: 25 }, BAD_MSG],
    ['a rate not offered', { rate: 8 }, NOT_SUPP],
    ['a rate the spec does not define', { rate: 16 }, BAD_MSG],
    ['too many channels', { channels: 3 }, NOT_SUPP],
    ['no channels', { channels: 0 }, NOT_SUPP],
    ['SHMEM_HOST (never offered)', { features: 1 }, NOT_SUPP],
    ['MSG_POLLING (not offered)', { features: 1 << 2 }, NOT_SUPP],
    ['a feature bit the spec does not define', { features: 1 << 5 }, BAD_MSG],
    ['a padding byte set', { padding: 1 }, BAD_MSG],
    ['period_bytes 0', { periodBytes: 0 }, BAD_MSG],
    ['buffer_bytes not a multiple of period_bytes', { bufferBytes: 5000, periodBytes: 1920 }, BAD_MSG],
    ['a period that is not whole frames', { bufferBytes: 4 * 1922, periodBytes: 1922 }, BAD_MSG],
    ['a buffer above one second (FLOAT stereo 48 kHz: 384000 bytes)', { bufferBytes: 201 * 1920, periodBytes: 1920 }, NOT_SUPP],
  ])('%s', (_what, p, want) => {
    const h = new Harness({ layout });
    expect(h.status(setParams(p))).toBe(want);
    expect(h.device.stream(0).state).toBe(want === OK ? PcmState.SET_PARAMS : PcmState.IDLE);
    if (want !== OK) expect(h.device.stream(0).params).toBeNull();
  });

  it('a request shorter than its structure: BAD_MSG, the stream as it was', () => {
    const h = new Harness();
    expect(h.status(setParams().subarray(0, 23))).toBe(BAD_MSG);
    expect(h.device.stream(0).state).toBe(PcmState.IDLE);
    expect(h.status(setParams({ rate: 6 }))).toBe(OK);
    expect(h.device.stream(0).params).toMatchObject({ rate: 44100, channels: 2, frameBytes: 4, bufferBytes: 7680, periodBytes: 1920 });
  });
});

describe('the PCM lifecycle (§5.14.6.6.1): every (state, command) pair', () => {
  const commands: PcmCommand[] = ['set-params', 'prepare', 'start', 'stop', 'release'];
  const codes: Record<PcmCommand, Uint8Array> = {
    'set-params': setParams(),
    prepare: pcm(Request.PCM_PREPARE, 0),
    start: pcm(Request.PCM_START, 0),
    stop: pcm(Request.PCM_STOP, 0),
    release: pcm(Request.PCM_RELEASE, 0),
  };
  // the shortest valid way to each state
  const paths: Record<PcmStateName, PcmCommand[]> = {
    idle: [],
    'set-params': ['set-params'],
    prepare: ['set-params', 'prepare'],
    start: ['set-params', 'prepare', 'start'],
    stop: ['set-params', 'prepare', 'start', 'stop'],
    release: ['set-params', 'prepare', 'release'],
  };
  const allowed: Record<PcmStateName, PcmCommand[]> = {
    idle: ['set-params'],
    'set-params': ['set-params', 'prepare'],
    prepare: ['set-params', 'prepare', 'start', 'release'],
    start: ['stop'],
    stop: ['start', 'release'],
    release: ['set-params', 'prepare'],
  };
  const after: Record<PcmCommand, PcmStateName> = { 'set-params': 'set-params', prepare: 'prepare', start: 'start', stop: 'stop', release: 'release' };

  it('the table the device serves is the one of the spec', () => {
    for (const c of commands) expect([...PCM_TRANSITIONS[c]].sort()).toEqual((Object.keys(allowed) as PcmStateName[]).filter((s) => allowed[s].includes(c)).sort());
  });

  for (const state of Object.keys(paths) as PcmStateName[]) {
    for (const c of commands) {
      const ok = allowed[state].includes(c);
      // OK and the state after the command when allowed, else BAD_MSG and the state as it was
      it(`${state} + ${c}`, () => {
        const h = new Harness();
        for (const step of paths[state]) expect(h.status(codes[step])).toBe(OK);
        expect(h.device.stream(0).state).toBe(state);
        const paramsBefore = h.device.stream(0).params;
        expect(h.status(codes[c])).toBe(ok ? OK : BAD_MSG);
        expect(h.device.stream(0).state).toBe(ok ? after[c] : state);
        if (!ok) expect(h.device.stream(0).params).toBe(paramsBefore);
        expect(h.device.stream(1).state).toBe('idle');
      });
    }
  }

  it('a command for a stream that does not exist, or too short: BAD_MSG', () => {
    const h = new Harness();
    expect(h.status(pcm(Request.PCM_PREPARE, 2))).toBe(BAD_MSG);
    expect(h.status(u32s(Request.PCM_START))).toBe(BAD_MSG);
  });

  it('tells the backend: prepare with the parameters, start, stop, release', () => {
    const calls: string[] = [];
    const h = new Harness({
      backend: {
        write: (_s, _f, done) => done(),
        read: (_s, _into, done) => done(),
        prepare: (s, p) => calls.push(`prepare ${s} ${p.rate} ${p.channels} ${p.format}`),
        start: (s) => calls.push(`start ${s}`),
        stop: (s) => calls.push(`stop ${s}`),
        release: (s) => calls.push(`release ${s}`),
      },
    });
    h.startStream(1);
    for (const code of [Request.PCM_STOP, Request.PCM_RELEASE]) expect(h.status(pcm(code, 1))).toBe(OK);
    expect(calls).toEqual(['prepare 1 48000 2 5', 'start 1', 'stop 1', 'release 1']);
  });
});

describe('control elements (§5.14.6.10)', () => {
  const read = (h: Harness, id: number) => {
    const r = h.control(u32s(Request.CTL_READ, id), 4 + 512);
    return { status: dv(r).getUint32(0, true), value: r.length >= 8 ? dv(r).getUint32(4, true) : null, len: r.length };
  };
  const write = (id: number, value: number) => {
    const b = new Uint8Array(8 + 512);
    dv(b).setUint32(0, Request.CTL_WRITE, true);
    dv(b).setUint32(4, id, true);
    dv(b).setUint32(8, value, true);
    return b;
  };

  it('read and write a volume and a switch; the host hears of it', () => {
    const seen: ValidControl[] = [];
    const h = new Harness({ onControl: (c) => seen.push({ ...c }) });
    expect(read(h, 0)).toEqual({ status: OK, value: 100, len: 516 });
    expect(h.status(write(0, 42))).toBe(OK);
    expect(read(h, 0).value).toBe(42);
    expect(h.status(write(0, 42))).toBe(OK); // unchanged: no second report
    expect(h.status(write(3, 0))).toBe(OK);
    expect(seen.map((c) => [c.name, c.value])).toEqual([['PCM Playback Volume', 42], ['Capture Switch', 0]]);
  });

  it('values out of range, unknown elements, short requests and responses: BAD_MSG; TLV: NOT_SUPP', () => {
    const h = new Harness();
    expect(h.status(write(0, 101))).toBe(BAD_MSG);
    expect(h.status(write(1, 2))).toBe(BAD_MSG);
    expect(h.status(write(4, 0))).toBe(BAD_MSG);
    expect(h.status(write(0, 5).subarray(0, 8 + 511))).toBe(BAD_MSG);
    expect(h.status(u32s(Request.CTL_READ, 0), 4 + 511)).toBe(BAD_MSG);
    expect(h.status(u32s(Request.CTL_READ))).toBe(BAD_MSG);
    expect(h.status(u32s(Request.CTL_ENUM_ITEMS, 0), 4 + 64)).toBe(BAD_MSG);
    for (const code of [Request.CTL_TLV_READ, Request.CTL_TLV_WRITE, Request.CTL_TLV_COMMAND]) expect(h.status(u32s(code, 0, 0, 0), 64)).toBe(NOT_SUPP);
    expect(read(h, 0).value).toBe(100);
  });

  it('without VIRTIO_SND_F_CTLS negotiated every CTL_* request is NOT_SUPP', () => {
    const h = new Harness({ ctls: false });
    expect(h.status(query(Request.CTL_INFO, 0, 1, 96), 100)).toBe(NOT_SUPP);
    expect(h.status(u32s(Request.CTL_READ, 0), 516)).toBe(NOT_SUPP);
    h.device.setControl(0, 10);
    h.postEvents(1);
    expect(h.events()).toEqual([]);
  });

  it('a host-side change is a CTL_NOTIFY event (VALUE) for the driver', () => {
    const h = new Harness();
    h.postEvents(2);
    h.device.setControl(1, 0);
    h.device.setControl(1, 0);
    expect(h.events()).toEqual([[Event.CTL_NOTIFY, 1 | (1 << 16)]]);
    expect(read(h, 1).value).toBe(0);
    expect(() => h.device.setControl(0, 101)).toThrow(RangeError);
    expect(() => h.device.setControl(9, 1)).toThrow(RangeError);
  });
});

describe('the control queue itself', () => {
  it('answers every request on the queue, each in its own response', () => {
    const h = new Harness();
    h.add(SoundQueue.CONTROLQ, [setParams()], [4]);
    h.add(SoundQueue.CONTROLQ, [pcm(Request.PCM_PREPARE, 0)], [4]);
    h.add(SoundQueue.CONTROLQ, [pcm(Request.PCM_STOP, 0)], [4]);
    expect(h.kick(SoundQueue.CONTROLQ)).toBe(true);
    expect(h.reap(SoundQueue.CONTROLQ).map((u) => [u.len, dv(u.bytes).getUint32(0, true)])).toEqual([[4, OK], [4, OK], [4, BAD_MSG]]);
    expect(h.device.stats.requests).toBe(3);
  });
});
