/**
 * I/O messages (VIRTIO 1.2 §5.14.6.8) on a fake clock: a buffer completes when its frames have
 * played or been captured at the stream's rate, not when it arrives; a 10 s clip takes 10 s;
 * latency_bytes comes from the backend; an underrun or overrun is an XRUN event and the stream
 * goes on from the next buffer, neither stalled nor sped up; STOP pauses, RELEASE completes
 * everything held; a slow backend holds buffers (back-pressure); malformed messages get IO_ERR.
 */
import { describe, expect, it } from '@jest/globals';
import { Event, PcmState, Request, SoundQueue, SoundStatus, isSoundError, systemClock } from '@vmv/sound';
import type { SoundBackend, SoundError } from '@vmv/sound';
import { FakeClock, Harness, clip, pcm, setParams } from './support/harness';

const { OK, IO_ERR } = SoundStatus;
const TX = SoundQueue.TXQ;
const RX = SoundQueue.RXQ;
const PERIOD = 1920; // 10 ms of stereo S16 at 48 kHz

/** A backend that records what it is given, answers capture reads with a counter, and can hold its answers. */
class Recorder implements SoundBackend {
  readonly written: Uint8Array[] = [];
  readonly held: (() => void)[] = [];
  hold = false;
  next = 0;
  latency = 0;
  fail: unknown = undefined;
  write(_s: number, frames: Uint8Array, done: (e?: unknown) => void): void {
    this.written.push(frames);
    const answer = () => done(this.fail);
    if (this.hold) this.held.push(answer);
    else answer();
  }
  read(_s: number, into: Uint8Array, done: (e?: unknown) => void): void {
    for (let i = 0; i < into.length; i++) into[i] = this.next++ & 0xff;
    const answer = () => done(this.fail);
    if (this.hold) this.held.push(answer);
    else answer();
  }
  latencyBytes(): number {
    return this.latency;
  }
  release(): void {}
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe('playback pacing', () => {
  it('a 10 s clip played in periods completes in 10 s of clock time (within 1 %), byte-identical at the backend', () => {
    const backend = new Recorder();
    const h = new Harness({ backend });
    const data = clip(48000 * 4 * 10, 7);
    h.startStream(0);
    let sent = 0;
    const send = () => {
      h.tx(0, data.subarray(sent, sent + PERIOD), 700);
      sent += PERIOD;
    };
    for (let i = 0; i < 4; i++) send();
    h.kick(TX);
    let done = 0;
    const start = h.clock.now();
    let lastAt = 0;
    while (done < data.length / PERIOD) {
      h.clock.advance(1);
      for (const c of h.completed(TX)) {
        expect(c.status).toBe(OK);
        expect(c.len).toBe(8);
        done++;
        lastAt = h.clock.now();
        if (sent < data.length) {
          send();
          h.kick(TX);
        }
      }
      if (h.clock.now() > 20_000) throw new Error('stalled');
    }
    const took = lastAt - start;
    expect(Math.abs(took - 10_000) / 10_000).toBeLessThan(0.01);
    expect(Buffer.from(concat(backend.written)).equals(Buffer.from(data))).toBe(true);
    expect(h.device.stream(0).stats).toMatchObject({ bytes: data.length, buffers: 1000, xruns: 0 });
  });

  it('a buffer is not completed before its frames have played', () => {
    const h = new Harness();
    h.startStream(0);
    h.tx(0, clip(PERIOD));
    h.tx(0, clip(PERIOD));
    h.kick(TX);
    h.clock.advance(9.99);
    expect(h.completed(TX)).toEqual([]);
    h.clock.advance(0.01);
    expect(h.completed(TX).length).toBe(1);
    h.clock.advance(9.99);
    expect(h.completed(TX)).toEqual([]);
    h.clock.advance(0.01);
    expect(h.completed(TX).length).toBe(1);
  });

  it('buffers posted before START are held (pre-buffering) and played from START', () => {
    const h = new Harness();
    for (const req of [setParams(), pcm(Request.PCM_PREPARE, 0)]) expect(h.status(req)).toBe(OK);
    h.tx(0, clip(PERIOD));
    h.kick(TX);
    h.clock.advance(100);
    expect(h.completed(TX)).toEqual([]);
    expect(h.device.stream(0).held).toBe(1);
    expect(h.status(pcm(Request.PCM_START, 0))).toBe(OK);
    h.clock.advance(10);
    expect(h.completed(TX).map((c) => c.status)).toEqual([OK]);
  });

  it('latency_bytes is what the backend still holds', () => {
    const backend = new Recorder();
    backend.latency = 3840;
    const h = new Harness({ backend });
    h.startStream(0);
    h.tx(0, clip(PERIOD));
    h.kick(TX);
    h.clock.advance(10);
    expect(h.completed(TX)[0]).toMatchObject({ status: OK, latency: 3840 });
  });
});

describe('capture pacing', () => {
  it('a 10 s capture completes in 10 s (within 1 %), with exactly the frames of the backend', () => {
    const backend = new Recorder();
    const h = new Harness({ backend });
    const total = 48000 * 4 * 10;
    h.prepareStream(1);
    for (let i = 0; i < 4; i++) h.rx(1, PERIOD);
    h.kick(RX);
    h.startStream(1, {}, true);
    const got: Uint8Array[] = [];
    let posted = 4;
    let lastAt = 0;
    while (got.length * PERIOD < total) {
      h.clock.advance(1);
      for (const c of h.completed(RX)) {
        expect(c).toMatchObject({ status: OK, len: PERIOD + 8 });
        got.push(c.frames);
        lastAt = h.clock.now();
        if (posted * PERIOD < total) {
          h.rx(1, PERIOD);
          posted++;
          h.kick(RX);
        }
      }
      if (h.clock.now() > 20_000) throw new Error('stalled');
    }
    expect(Math.abs(lastAt - 10_000) / 10_000).toBeLessThan(0.01);
    const all = concat(got);
    expect(all.every((b, i) => b === (i & 0xff))).toBe(true);
    expect(h.device.stream(1).stats).toMatchObject({ bytes: total, xruns: 0 });
  });

  it('a capture buffer is filled only once its duration has passed', () => {
    const h = new Harness();
    h.prepareStream(1);
    h.rx(1, PERIOD);
    h.kick(RX);
    h.startStream(1, {}, true);
    h.clock.advance(9.9);
    expect(h.completed(RX)).toEqual([]);
    h.clock.advance(0.1);
    const [c] = h.completed(RX);
    expect(c!.len).toBe(PERIOD + 8);
    expect(c!.frames.every((b) => b === 0)).toBe(true); // the null backend's silence (S16)
  });
});

describe('xruns', () => {
  it('the guest stops feeding: one XRUN event a period later, then playback resumes from the next buffer without catching up', () => {
    const h = new Harness();
    h.postEvents(4);
    h.startStream(0);
    h.tx(0, clip(PERIOD));
    h.kick(TX);
    h.clock.advance(10);
    expect(h.completed(TX).length).toBe(1);
    h.clock.advance(9.9);
    expect(h.events()).toEqual([]);
    h.clock.advance(0.1);
    expect(h.events()).toEqual([[Event.PCM_XRUN, 0]]);
    h.clock.advance(500);
    expect(h.events()).toEqual([]); // one event per dry spell
    // the guest comes back at t = 520: its buffer takes its own 10 ms from then, not from the past
    h.tx(0, clip(PERIOD));
    h.tx(0, clip(PERIOD));
    h.kick(TX);
    h.clock.advance(9.9);
    expect(h.completed(TX)).toEqual([]);
    h.clock.advance(0.1);
    expect(h.completed(TX).length).toBe(1);
    h.clock.advance(10);
    expect(h.completed(TX).length).toBe(1);
    expect(h.device.stream(0).stats).toMatchObject({ xruns: 1, xrunEvents: 1 });
  });

  it('a buffer late by less than a period is no xrun, and starts when it comes', () => {
    const h = new Harness();
    h.postEvents(1);
    h.startStream(0);
    h.tx(0, clip(PERIOD));
    h.kick(TX);
    h.clock.advance(15);
    expect(h.completed(TX).length).toBe(1);
    h.tx(0, clip(PERIOD));
    h.kick(TX);
    h.clock.advance(9.9);
    expect(h.completed(TX)).toEqual([]);
    h.clock.advance(0.1);
    expect(h.completed(TX).length).toBe(1);
    expect(h.device.stream(0).stats.xruns).toBe(0);
  });

  it('capture overrun: no buffer for a period is an XRUN event; capture goes on when buffers come', () => {
    const h = new Harness();
    h.postEvents(1);
    h.prepareStream(1);
    h.rx(1, PERIOD);
    h.kick(RX);
    h.startStream(1, {}, true);
    h.clock.advance(20);
    expect(h.completed(RX).length).toBe(1);
    expect(h.events()).toEqual([[Event.PCM_XRUN, 1]]);
    h.rx(1, PERIOD);
    h.kick(RX);
    h.clock.advance(10);
    expect(h.completed(RX).length).toBe(1);
  });

  it('without EVT_XRUNS selected in SET_PARAMS the xrun is counted, not sent', () => {
    const h = new Harness();
    h.postEvents(1);
    h.startStream(0, { features: 0 });
    h.clock.advance(50);
    expect(h.events()).toEqual([]);
    expect(h.device.stream(0).stats).toMatchObject({ xruns: 1, xrunEvents: 0 });
  });

  it('STOP before the period is out: no xrun', () => {
    const h = new Harness();
    h.postEvents(1);
    h.startStream(0);
    h.clock.advance(5);
    expect(h.status(pcm(Request.PCM_STOP, 0))).toBe(OK);
    h.clock.advance(100);
    expect(h.events()).toEqual([]);
    expect(h.device.stream(0).stats.xruns).toBe(0);
  });
});

describe('STOP, START and RELEASE with messages held', () => {
  it('STOP pauses the buffer in progress; START plays the rest of it', () => {
    const h = new Harness();
    h.startStream(0);
    h.tx(0, clip(PERIOD));
    h.tx(0, clip(PERIOD));
    h.kick(TX);
    h.clock.advance(4);
    expect(h.status(pcm(Request.PCM_STOP, 0))).toBe(OK);
    h.clock.advance(1000);
    expect(h.completed(TX)).toEqual([]);
    expect(h.status(pcm(Request.PCM_START, 0))).toBe(OK);
    h.clock.advance(5.9);
    expect(h.completed(TX)).toEqual([]);
    h.clock.advance(0.1);
    expect(h.completed(TX).length).toBe(1);
    h.clock.advance(10);
    expect(h.completed(TX).length).toBe(1);
  });

  it('RELEASE completes every held message (status OK, no frames) before it is answered itself', () => {
    const backend = new Recorder();
    const h = new Harness({ backend });
    h.startStream(0);
    for (let i = 0; i < 3; i++) h.tx(0, clip(PERIOD));
    h.kick(TX);
    h.clock.advance(3);
    expect(h.status(pcm(Request.PCM_STOP, 0))).toBe(OK);
    // one more that was never kicked: RELEASE takes it from the ring too
    h.tx(0, clip(PERIOD));
    expect(h.status(pcm(Request.PCM_RELEASE, 0))).toBe(OK);
    const c = h.completed(TX);
    expect(c.map((x) => [x.status, x.latency, x.len])).toEqual([[OK, 0, 8], [OK, 0, 8], [OK, 0, 8], [OK, 0, 8]]);
    expect(h.device.stream(0).held).toBe(0);
    expect(h.device.stream(0).stats.flushed).toBe(4);
    h.clock.advance(100);
    expect(h.completed(TX)).toEqual([]);
    expect(backend.written.length).toBe(1); // only the one that had started
  });

  it('capture messages held at RELEASE come back with the status alone', () => {
    const h = new Harness();
    h.prepareStream(1);
    h.rx(1, PERIOD);
    h.rx(1, PERIOD);
    h.kick(RX);
    h.startStream(1, {}, true);
    h.clock.advance(5);
    expect(h.status(pcm(Request.PCM_STOP, 1))).toBe(OK);
    expect(h.status(pcm(Request.PCM_RELEASE, 1))).toBe(OK);
    expect(h.completed(RX).map((c) => [c.len, c.status])).toEqual([[8, OK], [8, OK]]);
  });
});

describe('back-pressure and backend errors', () => {
  it('a backend that has not taken a buffer holds it past its time and gets no other; then the stream goes on at its rate', () => {
    const backend = new Recorder();
    backend.hold = true;
    const h = new Harness({ backend });
    h.startStream(0);
    for (let i = 0; i < 3; i++) h.tx(0, clip(PERIOD, i + 1));
    h.kick(TX);
    h.clock.advance(50);
    expect(h.completed(TX)).toEqual([]);
    expect(backend.written.length).toBe(1);
    expect(h.device.stream(0).held).toBe(3);
    backend.hold = false;
    backend.held.shift()!();
    expect(h.completed(TX).length).toBe(1); // taken at t = 50, its time long passed
    expect(backend.written.length).toBe(2);
    h.clock.advance(9.9);
    expect(h.completed(TX)).toEqual([]); // the next takes its 10 ms from t = 50: no burst
    h.clock.advance(0.1);
    expect(h.completed(TX).length).toBe(1);
  });

  it('a backend error answers the message IO_ERR and reaches onError as Sound.BackendError', () => {
    const backend = new Recorder();
    backend.fail = new Error('disk full');
    const errors: SoundError[] = [];
    const h = new Harness({ backend, onError: (e) => errors.push(e) });
    h.startStream(0);
    h.tx(0, clip(PERIOD));
    h.kick(TX);
    h.clock.advance(10);
    expect(h.completed(TX).map((c) => c.status)).toEqual([IO_ERR]);
    expect(errors.length).toBe(1);
    expect(isSoundError(errors[0], 'Sound.BackendError')).toBe(true);
    expect(errors[0]!.details).toBe('disk full');
    h.prepareStream(1);
    h.rx(1, PERIOD);
    h.kick(RX);
    h.startStream(1, {}, true);
    h.clock.advance(10);
    expect(h.completed(RX).map((c) => [c.status, c.len])).toEqual([[IO_ERR, 8]]);
  });
});

describe('malformed I/O messages: IO_ERR at once, or nothing without room for a status', () => {
  it('no header, an unknown stream, the wrong direction, the wrong state, more than buffer_bytes', () => {
    const h = new Harness();
    h.add(TX, [], [8]); // no header
    h.tx(5, clip(16)); // no such stream
    h.tx(1, clip(16)); // an input stream on the txq
    h.tx(0, clip(16)); // stream 0 has no parameters yet
    h.kick(TX);
    expect(h.completed(TX).map((c) => [c.status, c.len])).toEqual([[IO_ERR, 8], [IO_ERR, 8], [IO_ERR, 8], [IO_ERR, 8]]);
    h.rx(0, 16); // an output stream on the rxq
    h.kick(RX);
    expect(h.completed(RX).map((c) => [c.status, c.len])).toEqual([[IO_ERR, 8]]);
    h.startStream(0);
    h.tx(0, clip(4 * PERIOD + 4));
    h.add(TX, [clip(4)], [4]); // status does not fit
    h.kick(TX);
    expect(h.completed(TX).map((c) => [c.status, c.len])).toEqual([[IO_ERR, 8], [null, 0]]);
    expect(h.device.stats).toMatchObject({ strayMessages: 2, unanswerable: 1 });
    expect(h.device.stream(0).stats.ioErrors).toBe(3); // idle, the wrong queue, too large
  });

  it('an empty output message completes at once with OK', () => {
    const h = new Harness();
    h.startStream(0);
    h.tx(0, new Uint8Array(0));
    h.kick(TX);
    h.clock.advance(0);
    expect(h.completed(TX).map((c) => c.status)).toEqual([OK]);
  });
});

describe('reset', () => {
  it('held messages are dropped without a write to guest memory; late backend answers are ignored; streams idle', () => {
    const backend = new Recorder();
    backend.hold = true;
    const clock = new FakeClock();
    const h = new Harness({ backend, clock });
    h.startStream(0);
    h.tx(0, clip(PERIOD));
    h.kick(TX);
    h.prepareStream(1);
    h.rx(1, PERIOD);
    h.kick(RX);
    h.startStream(1, {}, true);
    h.clock.advance(10);
    const snapshot = new Uint8Array(8 << 20);
    h.memory.read(0, snapshot);
    h.resetDevice();
    for (const answer of backend.held) answer();
    clock.advance(100);
    const after = new Uint8Array(8 << 20);
    h.memory.read(0, after);
    expect(Buffer.from(after).equals(Buffer.from(snapshot))).toBe(true);
    expect(h.device.streams.map((s) => s.state)).toEqual([PcmState.IDLE, PcmState.IDLE]);
    expect(h.device.stream(0).params).toBeNull();
    expect(clock.pending).toBe(0);
  });
});

describe('SET_PARAMS with messages held', () => {
  it('messages held from PREPARE were for the old parameters: they complete IO_ERR', () => {
    const h = new Harness();
    h.prepareStream(0);
    h.tx(0, clip(PERIOD));
    h.kick(TX);
    expect(h.status(setParams({ rate: 6 }))).toBe(OK);
    expect(h.completed(TX).map((c) => [c.status, c.len])).toEqual([[IO_ERR, 8]]);
    expect(h.device.stream(0).held).toBe(0);
  });
});

describe('the clock', () => {
  it('a timer that fires before its time does not complete the buffer early: it waits for the rest', () => {
    const clock = new FakeClock();
    // a coarse clock: timers in whole milliseconds, rounded down (10.4 ms fire at 10)
    const coarse = { now: () => clock.now(), setTimer: (ms: number, fn: () => void) => clock.setTimer(Math.floor(ms), fn) };
    const h = new Harness({ clock: coarse as unknown as FakeClock });
    h.startStream(0, { rate: 6 }); // 44.1 kHz: 1920 bytes are 10.88 ms
    h.tx(0, clip(PERIOD));
    h.kick(TX);
    clock.advance(10.8); // the timer (floored to 10 ms) has fired: the buffer must wait
    expect(h.completed(TX)).toEqual([]);
    clock.advance(0.2);
    expect(h.completed(TX).length).toBe(1);
  });

  it('systemClock: real timers, never early', async () => {
    const t0 = systemClock.now();
    const fired = await new Promise<number>((resolve) => systemClock.setTimer(5.2, () => resolve(systemClock.now())));
    expect(fired - t0).toBeGreaterThanOrEqual(5.2);
    let ran = false;
    systemClock.setTimer(1, () => (ran = true))();
    await new Promise((r) => setTimeout(r, 10));
    expect(ran).toBe(false);
  });
});
