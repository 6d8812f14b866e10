import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { QUEUE_ERROR_NAMES, GUEST_MEMORY_ERROR_NAMES } from '@vmv/device-trait';
import { EventType, InputDevice, Led, Syn, isInputError, keyboard } from '@vmv/input';
import type { InputEvent , InvalidDescriptionError} from '@vmv/input';
import { Harness, key, rel, syn } from './support/harness';

const LAYOUTS = [
  { name: 'split', packed: false, indirect: false },
  { name: 'split indirect', packed: false, indirect: true },
  { name: 'packed', packed: true, indirect: false },
  { name: 'packed indirect', packed: true, indirect: true },
];

describe.each(LAYOUTS)('InputDevice on $name rings', ({ packed, indirect }) => {
  it('delivers events in order, one per 8-byte buffer, with used length 8', () => {
    const h = new Harness({ packed, indirect });
    for (let i = 0; i < 8; i++) h.postEventBuffer();
    h.kick(0, true);
    h.device.sendPacket([key(30, 1), syn(), key(30, 0), syn()]);
    h.device.send(2, 0, -5);
    h.device.send(0, 0, 0);
    expect(h.reap()).toEqual([key(30, 1), syn(), key(30, 0), syn(), rel(0, -5), syn()]);
    expect(h.received.every((r) => r.len === 8)).toBe(true);
    expect(h.device.stats).toMatchObject({ delivered: 6, queued: 6, droppedEvents: 0 });
  });

  it('an event buffer split at every byte boundary, after a readable prefix, gets the same 8 bytes', () => {
    for (let cut = 1; cut < 8; cut++) {
      const h = new Harness({ packed, indirect });
      h.postEventBuffer([cut, 8 - cut], cut === 3 ? 4 : 0);
      h.postEventBuffer([1, 1, 1, 1, 1, 1, 1, 1]);
      h.kick(0, true);
      h.device.sendPacket([rel(1, -123456), syn()]);
      expect(h.reap()).toEqual([rel(1, -123456), syn()]);
    }
  });

  it('events wait (bounded) for buffers and go out when the driver posts them, with a kick each time EVENT_IDX asks', () => {
    const h = new Harness({ packed, indirect });
    for (let i = 0; i < 20; i++) h.device.sendPacket([rel(0, i), syn()]);
    expect(h.device.backlog).toBe(40);
    let got: InputEvent[] = [];
    for (let i = 0; i < 40; i++) {
      h.postEventBuffer();
      expect(h.kick(0)).toBe(true);
      got = got.concat(h.reap());
    }
    expect(got.filter((e) => e.type === 2).map((e) => e.value)).toEqual([...Array(20).keys()]);
  });

  it('status events (EV_LED) reach the listeners, in order; a buffer split anywhere reads the same', () => {
    const h = new Harness({ packed, indirect, description: keyboard() });
    const heard: InputEvent[] = [];
    const off = h.device.onStatus((e) => heard.push(e));
    for (let cut = 1; cut < 8; cut++) h.sendStatus({ type: EventType.EV_LED, code: Led.CAPSL, value: cut }, [cut, 8 - cut]);
    h.sendStatus({ type: EventType.EV_FF, code: 0x50, value: -1 });
    h.kick(1, true);
    expect(h.status).toEqual([...[1, 2, 3, 4, 5, 6, 7].map((v) => ({ type: EventType.EV_LED, code: Led.CAPSL, value: v })), { type: EventType.EV_FF, code: 0x50, value: -1 }]);
    expect(heard).toEqual(h.status);
    off();
    h.sendStatus({ type: EventType.EV_LED, code: Led.NUML, value: 1 });
    h.kick(1, true);
    expect([heard.length, h.status.length]).toEqual([8, 9]);
    h.reap();
    expect(h.statusUsed.every((l) => l === 0)).toBe(true);
  });

  it('takes a buffer only for an event: with none queued the ring keeps every buffer (a ring stop finds nothing in flight)', () => {
    const h = new Harness({ packed, indirect });
    for (let i = 0; i < 4; i++) h.postEventBuffer();
    h.kick(0, true);
    expect(h.queues[0]!.saveState().nextAvail).toBe(0);
    h.device.sendPacket([key(30, 1), syn()]);
    expect(h.queues[0]!.saveState().nextAvail).toBe(2);
    expect(h.reap()).toEqual([key(30, 1), syn()]);
  });

  it('bad guest buffers: an eventq buffer under 8 bytes and a statusq buffer under 8 bytes come back with used length 0, counted, no event lost', () => {
    const h = new Harness({ packed, indirect });
    h.postEventBuffer([7]);
    h.postEventBuffer([3, 4]);
    h.postEventBuffer([], 8); // readable only: no writable byte
    h.postEventBuffer();
    h.postEventBuffer();
    h.kick(0, true);
    h.device.sendPacket([key(48, 1), syn()]);
    h.reap();
    expect(h.received.map((r) => r.len)).toEqual([0, 0, 0, 8, 8]);
    expect(h.received.filter((r) => r.event).map((r) => r.event)).toEqual([key(48, 1), syn()]);
    h.postStatus(new Uint8Array(7));
    h.postStatus(new Uint8Array(0), [0]);
    h.sendStatus({ type: 0x11, code: 0, value: 1 });
    h.kick(1, true);
    h.reap();
    expect(h.status).toEqual([{ type: 0x11, code: 0, value: 1 }]);
    expect(h.device.stats).toMatchObject({ shortBuffers: 3, badStatusBuffers: 2, statusEvents: 1 });
    expect(h.statusUsed).toEqual([0, 0, 0]);
    expect(h.resets).toEqual([]);
  });

  it('overflow while the guest posts no buffers: SYN_DROPPED then the newest packet, as evdev', () => {
    const h = new Harness({ packed, indirect, capacity: 16 });
    for (let i = 0; i < 9; i++) h.device.sendPacket([rel(0, i), syn()]);
    for (let i = 0; i < 10; i++) h.postEventBuffer();
    h.kick(0, true);
    expect(h.reap()).toEqual([{ type: 0, code: Syn.SYN_DROPPED, value: 0 }, rel(0, 8), syn()]);
    expect(h.device.stats).toMatchObject({ droppedPackets: 8, droppedEvents: 16, synDropped: 1, delivered: 3 });
  });
});

describe('InputDevice: host API and lifecycle', () => {
  it('offers no device feature bits (§5.8.3): VERSION_1 and ring features only; device ID 18, two queues', () => {
    const d = new InputDevice({ description: keyboard() });
    expect(d.deviceFeatures & ((1n << 24n) - 1n)).toBe(0n);
    expect([d.deviceId, d.queueMaxSizes.length, d.configSize]).toEqual([18, 2, 136]);
  });

  it('refuses events the description does not have, and batches not ending in SYN_REPORT, adding nothing', () => {
    const d = new InputDevice({ description: keyboard() });
    expect(() => d.send(EventType.EV_REL, 0, 1)).toThrow(/event type 2 is not in the device's description/);
    expect(() => d.send(EventType.EV_KEY, 0x300, 1)).toThrow(/EV_KEY code 768/);
    expect(() => d.send(EventType.EV_SYN, Syn.SYN_DROPPED, 0)).toThrow(RangeError);
    expect(() => d.send(EventType.EV_KEY, 30, 2 ** 31)).toThrow(RangeError);
    expect(() => d.sendPacket([key(30, 1)])).toThrow(/last event must be EV_SYN\/SYN_REPORT/);
    expect(() => d.sendPacket([key(30, 1), syn(), key(30, 0)])).toThrow(RangeError);
    expect(() => d.sendPacket(Array.from({ length: 200 }, () => key(30, 1)).concat([syn()]))).toThrow(/at most 127 events/);
    expect([d.backlog, d.stats.queued]).toEqual([0, 0]);
  });

  it('a bad description is a typed error naming the field', () => {
    const bad: unknown[] = [
      null, { events: { EV_KEY: [1] } }, { name: 'x'.repeat(64), events: { EV_KEY: [1] } }, { name: 'é', events: { EV_KEY: [1] } },
      { name: 'a', events: {} }, { name: 'a', events: { EV_KEY: [0x300] } }, { name: 'a', events: { EV_BOGUS: [1] } }, { name: 'a', events: { 0: [0] } },
      { name: 'a', events: { EV_ABS: [0] } }, { name: 'a', events: { EV_ABS: [0] }, abs: { 0: { min: 5, max: 4 } } }, { name: 'a', events: { EV_KEY: [1] }, abs: { 0: { min: 0, max: 1 } } },
      { name: 'a', events: { EV_KEY: [1, 1] } }, { name: 'a', ids: { vendor: 0x10000 }, events: { EV_KEY: [1] } }, { name: 'a', events: { EV_KEY: [1] }, extra: 1 },
      { name: 'a', events: { EV_ABS: [0x2f] }, abs: { 0x2f: { min: 1, max: 3 } } }, { name: 'a', properties: [0x20], events: { EV_KEY: [1] } },
    ];
    for (const b of bad) {
      let caught: unknown;
      try {
        new InputDevice({ description: b as never });
      } catch (e) {
        caught = e;
      }
      expect(isInputError(caught, 'Input.InvalidDescriptionError')).toBe(true);
      expect((caught as InvalidDescriptionError).path.length).toBeGreaterThan(0);
    }
  });

  it('events sent before the driver is ready wait; a reset drops (and counts) what the old driver never got', () => {
    const h = new Harness();
    h.device.sendPacket([key(30, 1), syn()]);
    h.postEventBuffer();
    h.kick(0, true);
    expect(h.reap()).toEqual([key(30, 1)]);
    h.device.reset();
    expect(h.device.stats).toMatchObject({ droppedPackets: 1, droppedEvents: 1 });
    h.device.sendPacket([key(30, 0), syn()]);
    h.device.queueNotify(0); // not activated: nothing happens
    expect(h.reap()).toEqual([]);
  });

  it('property: any mix of packets, buffer layouts and buffer counts delivers exactly the packets sent, in order, and never throws', () => {
    const layout = fc.oneof(fc.constant([8]), fc.integer({ min: 1, max: 7 }).map((c) => [c, 8 - c]), fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 4 }));
    fc.assert(fc.property(fc.boolean(), fc.boolean(), fc.array(fc.tuple(fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 4 }), fc.array(layout, { maxLength: 6 })), { maxLength: 20 }), (packed, indirect, steps) => {
      const h = new Harness({ packed, indirect, capacity: 1024 });
      const sent: InputEvent[] = [];
      try {
        for (const [values, bufs] of steps) {
          const p = values.map((v) => rel(0, v)).concat([syn()]);
          h.device.sendPacket(p);
          sent.push(...p);
          for (const b of bufs) {
            if (h.drivers[0]!.numFree < b.length + 1) break;
            h.postEventBuffer(b.length === 0 ? [8] : [...b]);
          }
          h.kick(0);
          h.reap();
        }
        for (let i = 0; i < 200 && h.device.backlog > 0; i++) {
          h.postEventBuffer();
          h.kick(0);
          h.reap();
        }
      } catch (e) {
        const n = (e as Error).name;
        if (![...QUEUE_ERROR_NAMES, ...GUEST_MEMORY_ERROR_NAMES].includes(n as never)) throw e;
      }
      expect(h.received.filter((r) => r.event).map((r) => r.event)).toEqual(sent);
      expect(h.received.filter((r) => !r.event).every((r) => r.len === 0)).toBe(true);
    }), { numRuns: 150 });
  });
});
