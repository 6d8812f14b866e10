/**
 * Properties over hostile guests: any chains on txq, rxq and controlq (any bytes, cuts and
 * writable sizes), mixed with well-formed frames, host frames, START, STOP, bus-off and reset, on
 * split or packed rings: the device never throws, answers txq and controlq with one result byte
 * (OK or NOT_OK) or used length 0, fills rxq buffers only with well-formed frames of what it
 * negotiated, and reports nothing but allowlisted errors. And the bus model: for any interleaving
 * of frames from two guests and the host, with buffers that fill up and drain at random, every
 * node receives exactly the frames the others sent, none of its own, in the one order they were
 * sent; no sender's frame is lost.
 */
import { expect, it } from '@jest/globals';
import fc from 'fast-check';
import { CanBus, CanMsg, CanQueue, CanResult, frameProblem, formatFrame } from '@vmv/can';
import type { CanFrame } from '@vmv/can';
import { GUEST_MEMORY_ERROR_NAMES, QUEUE_ERROR_NAMES } from '@vmv/device-trait';
import { Harness, rxFrame, txOut } from './support/harness';

const ALLOWED = new Set<string>([...QUEUE_ERROR_NAMES, ...GUEST_MEMORY_ERROR_NAMES]);

/** Bytes cut into readable pieces at `cuts`. */
function pieces(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const c of [...at, bytes.length]) {
    if (c > from) out.push(bytes.subarray(from, c));
    from = Math.max(from, c);
  }
  return out;
}

/** A frame the bus can carry. */
const validFrame = fc
  .record({ kind: fc.constantFrom('classic', 'fd', 'rtr'), extended: fc.boolean(), id: fc.nat(0x1fff_ffff), n: fc.nat(64), seed: fc.nat(255) })
  .map(({ kind, extended, id, n, seed }): CanFrame => {
    const fd = kind === 'fd';
    const len = fd ? [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64].find((l) => l >= n)! : n % 9;
    return { id: extended ? id : id & 0x7ff, extended, fd, rtr: kind === 'rtr', data: kind === 'rtr' ? new Uint8Array(len) : Uint8Array.from({ length: len }, (_, i) => (seed + i * 7) & 0xff) };
  });

const hostileStep = fc.oneof(
  fc.record({ kind: fc.constant('tx' as const), frame: validFrame, msgType: fc.constantFrom(CanMsg.TX, CanMsg.TX, CanMsg.TX, CanMsg.RX, 0), lengthDelta: fc.constantFrom(0, 0, 0, 1, -1, 100), flags: fc.constantFrom(undefined, undefined, 0x1000, 0x6000, 0xffff_ffff), id: fc.constantFrom(undefined, undefined, 0x800, 0x2000_0000), cuts: fc.array(fc.nat(), { maxLength: 3 }), rx: fc.constantFrom([1], [1], [], [4], [0, 1]) }),
  fc.record({ kind: fc.constant('junk' as const), queue: fc.constantFrom(CanQueue.TXQ, CanQueue.RXQ, CanQueue.CONTROLQ), bytes: fc.uint8Array({ maxLength: 40 }), cuts: fc.array(fc.nat(), { maxLength: 3 }), rx: fc.array(fc.nat(90), { maxLength: 3 }) }),
  fc.record({ kind: fc.constant('control' as const), msgType: fc.constantFrom(CanMsg.SET_CTRL_MODE_START, CanMsg.SET_CTRL_MODE_START, CanMsg.SET_CTRL_MODE_STOP, 0x0203) }),
  fc.record({ kind: fc.constant('host' as const), frame: validFrame }),
  fc.record({ kind: fc.constant('rx' as const), size: fc.constantFrom(80, 80, 24, 16, 0) }),
  fc.record({ kind: fc.constant('busoff' as const) }),
  fc.record({ kind: fc.constant('reset' as const) }),
);

it('hostile chains, host frames and mode changes: one result byte OK or NOT_OK, well-formed rx frames, never an exception', async () => {
  await fc.assert(
    fc.asyncProperty(fc.boolean(), fc.boolean(), fc.subarray([0, 1, 2, 3], { minLength: 1 }), fc.array(hostileStep, { maxLength: 40 }), async (packed, indirect, accept, steps) => {
      fc.pre(accept.includes(0) || accept.includes(1));
      if (!accept.includes(0)) accept = accept.filter((b) => b !== 2);
      const h = new Harness({ packed, indirect, accept, rxBuffers: 4, repost: false, rxBuffer: 4 });
      const host = h.bus.endpoint({ buffer: 4 });
      const sends: Promise<boolean>[] = [];
      for (const s of steps) {
        if (s.kind === 'tx') {
          const bytes = txOut(s.frame, { msgType: s.msgType, flags: s.flags, id: s.id, length: s.frame.data.length + s.lengthDelta });
          const out = pieces(bytes, s.cuts);
          const rx = s.rx.filter((n) => n > 0);
          h.raw(CanQueue.TXQ, out, rx);
        } else if (s.kind === 'junk') {
          const out = pieces(s.bytes, s.cuts);
          const rx = s.rx.filter((n) => n > 0);
          if (out.length + rx.length === 0) continue;
          h.raw(s.queue, out, rx);
        } else if (s.kind === 'control') h.control(s.msgType);
        else if (s.kind === 'host') sends.push(host.send(s.frame));
        else if (s.kind === 'rx') {
          if (s.size === 0) host.tryReceive();
          else {
            h.postRx(s.size);
            h.kick(CanQueue.RXQ);
          }
        } else if (s.kind === 'busoff') h.device.busOff();
        else {
          for (const q of h.queues) q!.reset();
          h.device.reset();
          break; // the driver side is stale after a reset: the run ends here
        }
      }
      host.close();
      await Promise.all(sends);
      for (const q of [CanQueue.TXQ, CanQueue.CONTROLQ]) h.reap(q);
      for (const u of h.used) {
        if (u.queue === CanQueue.RXQ) {
          // a buffer too short for the frame comes back empty; any other holds one whole frame
          if (u.len > 0) expect(frameProblem(rxFrame(u.bytes, u.len).frame)).toBeNull();
          continue;
        }
        expect([0, 1]).toContain(u.len);
        if (u.len === 1) expect([CanResult.OK, CanResult.NOT_OK]).toContain(u.bytes[0]);
      }
      for (const r of h.txResults) if (r !== undefined) expect([CanResult.OK, CanResult.NOT_OK]).toContain(r);
      for (const f of h.received) {
        expect(frameProblem(f)).toBeNull();
        if (f.fd) expect(accept).toContain(1);
        else expect(accept).toContain(0);
        if (f.rtr) expect(accept).toContain(2);
      }
      for (const r of h.resets) expect(ALLOWED.has((r as Error).name)).toBe(true);
    }),
    { numRuns: 300 },
  );
});

it('two guests and the host on one bus, buffers filling and draining at random: each receives exactly the others\' frames, in the order sent', async () => {
  const step = fc.oneof(
    fc.record({ kind: fc.constant('send' as const), from: fc.constantFrom(0, 1, 2), frame: validFrame }),
    fc.record({ kind: fc.constant('drain' as const), who: fc.constantFrom(0, 1, 2), n: fc.integer({ min: 1, max: 4 }) }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(step, { maxLength: 60 }), fc.integer({ min: 1, max: 4 }), async (steps, room) => {
      const bus = new CanBus();
      const guests = [new Harness({ bus, rxBuffers: room, repost: false, rxBuffer: room }), new Harness({ bus, rxBuffers: 1, repost: false, rxBuffer: 1 })];
      const host = bus.endpoint({ buffer: room });
      for (const g of guests) g.start();
      const sent: { from: number; text: string }[] = [];
      const hostGot: string[] = [];
      const hostSends: Promise<boolean>[] = [];
      for (const s of steps) {
        if (s.kind === 'send') {
          sent.push({ from: s.from, text: formatFrame(s.frame) });
          if (s.from === 2) hostSends.push(host.send(s.frame));
          else guests[s.from]!.send(s.frame);
        } else if (s.who === 2) {
          for (let i = 0; i < s.n; i++) {
            const f = host.tryReceive();
            if (f) hostGot.push(formatFrame(f));
          }
        } else {
          for (let i = 0; i < s.n; i++) guests[s.who]!.postRx();
          guests[s.who]!.kick(CanQueue.RXQ);
        }
      }
      // Drain everything (rounds of fresh buffers until a round moves nothing): every frame must arrive
      const moved = () => guests[0]!.received.length + guests[1]!.received.length + hostGot.length + bus.stats.frames;
      for (let round = 0, before = -1; round < sent.length + 4 && (before !== moved() || bus.stats.waiting > 0); round++) {
        before = moved();
        for (const g of guests) {
          for (let i = 0; i < 4; i++) g.postRx();
          g.kick(CanQueue.RXQ);
        }
        for (let f = host.tryReceive(); f; f = host.tryReceive()) hostGot.push(formatFrame(f));
        await new Promise((r) => setImmediate(r));
      }
      for (let f = host.tryReceive(); f; f = host.tryReceive()) hostGot.push(formatFrame(f));
      expect(await Promise.all(hostSends)).toEqual(hostSends.map(() => true));
      expect(bus.stats.waiting).toBe(0);
      for (const [i, g] of guests.entries()) {
        expect(g.received.map(formatFrame)).toEqual(sent.filter((x) => x.from !== i).map((x) => x.text));
        expect(g.txResults.every((r) => r === CanResult.OK)).toBe(true);
      }
      expect(hostGot).toEqual(sent.filter((x) => x.from !== 2).map((x) => x.text));
    }),
    { numRuns: 200 },
  );
});
