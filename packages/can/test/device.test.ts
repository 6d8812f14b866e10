/**
 * CanDevice against a guest driven as Linux's virtio_can drives it (test/support/harness.ts), on a
 * bus with the host's endpoints and other guests: identity and negotiation, START/STOP, frames of
 * every kind both ways byte for byte, the rejections §5.20.5.2 requires, LATE_TX_ACK under a bus
 * that waits, no echo of a guest's own frames, back-pressure in order, bus-off, hostile chains.
 */
import { describe, expect, it } from '@jest/globals';
import { CanBus, CanDevice, CanFeature, CanFlags, CanMsg, CanQueue, CanResult, CanStatus } from '@vmv/can';
import type { CanFrame, CanStateChange } from '@vmv/can';
import { Feature, featureBit, isQueueError } from '@vmv/device-trait';
import { Harness, txOut } from './support/harness';

const OK = CanResult.OK;
const NOT_OK = CanResult.NOT_OK;
const frame = (id: number, bytes: number[], more: Partial<CanFrame> = {}): CanFrame => ({ id, data: Uint8Array.from(bytes), ...more });
const plain = (f: CanFrame) => ({ id: f.id, extended: f.extended === true, fd: f.fd === true, rtr: f.rtr === true, data: [...f.data] });
const tick = () => new Promise((r) => setImmediate(r));

describe('identity and negotiation', () => {
  it('is device 36 with txq, rxq and controlq, offers CLASSIC, FD, RTR_FRAMES and LATE_TX_ACK, and a 2-byte status config reading 0', () => {
    const d = new CanDevice({ bus: new CanBus() });
    expect(d.deviceId).toBe(36);
    expect(d.queueMaxSizes).toEqual([256, 256, 256]);
    expect(d.configSize).toBe(2);
    for (const bit of [CanFeature.CAN_CLASSIC, CanFeature.CAN_FD, CanFeature.RTR_FRAMES, CanFeature.LATE_TX_ACK, Feature.VERSION_1, Feature.EVENT_IDX]) expect(d.deviceFeatures & featureBit(bit)).not.toBe(0n);
    const cfg = new Uint8Array(2).fill(0xff);
    d.readConfig(0, cfg);
    expect([...cfg]).toEqual([0, 0]);
    d.writeConfig();
    expect(d.state).toBe('stopped');
    const bare = new CanDevice({ bus: new CanBus(), fd: false, rtr: false, lateTxAck: false, queueSize: 8 });
    expect(bare.deviceFeatures & 0xfn).toBe(1n);
    expect(bare.queueMaxSizes).toEqual([8, 8, 8]);
  });

  it('refuses a driver with neither CLASSIC nor FD, or RTR_FRAMES without CLASSIC (§5.20.3.1)', () => {
    const d = new CanDevice({ bus: new CanBus() });
    const v1 = featureBit(Feature.VERSION_1);
    expect(d.validateFeatures(v1)).toBe(false);
    expect(d.validateFeatures(v1 | featureBit(CanFeature.CAN_FD) | featureBit(CanFeature.RTR_FRAMES))).toBe(false);
    expect(d.validateFeatures(v1 | featureBit(CanFeature.CAN_FD))).toBe(true);
    expect(d.validateFeatures(v1 | featureBit(CanFeature.CAN_CLASSIC) | featureBit(CanFeature.RTR_FRAMES))).toBe(true);
  });

  it('refuses bad options with labelled errors', () => {
    expect(() => new CanDevice({} as never)).toThrow(TypeError);
    for (const o of [{ queueSize: 0 }, { rxBuffer: 1.5 }, { txInFlight: 40000 }]) expect(() => new CanDevice({ bus: new CanBus(), ...o })).toThrow(RangeError);
    expect(() => new CanDevice({ bus: new CanBus() }).onChange(null as never)).toThrow(TypeError);
  });
});

describe('controller mode (§5.20.5.1)', () => {
  it('starts STOPPED: frames are NOT_OK and none reach the bus; START makes them go, STOP stops them again; the host hears each change', () => {
    const h = new Harness();
    const host = h.bus.endpoint();
    const changes: CanStateChange[] = [];
    const off = h.device.onChange((c) => changes.push(c));
    h.send(frame(0x100, [1]));
    expect(h.txResults).toEqual([NOT_OK]);
    expect(h.start()).toBe(OK);
    expect(h.start()).toBe(OK); // already started: no change
    h.send(frame(0x101, [2]));
    expect(h.stop()).toBe(OK);
    h.send(frame(0x102, [3]));
    expect(h.txResults).toEqual([NOT_OK, OK, NOT_OK]);
    expect(host.pending).toBe(1);
    expect(h.device.stats).toMatchObject({ txFrames: 1, txRejected: 2, starts: 1, stops: 1, controls: 3 });
    expect(changes).toEqual([{ state: 'started', cause: 'start' }, { state: 'stopped', cause: 'stop' }]);
    off();
    h.start();
    expect(changes).toHaveLength(2);
  });

  it('a control message of another type or size is NOT_OK; one without a writable byte is returned with used length 0', () => {
    const h = new Harness();
    expect(h.control(0x0203)).toBe(NOT_OK);
    expect(h.control(CanMsg.TX)).toBe(NOT_OK);
    h.raw(CanQueue.CONTROLQ, [Uint8Array.of(0x01, 0x02, 0)], [1]);
    h.raw(CanQueue.CONTROLQ, [Uint8Array.of(0x01, 0x02)], []);
    h.raw(CanQueue.CONTROLQ, [], [1]);
    expect(h.used.map((u) => [u.len, u.bytes[0]])).toEqual([[1, NOT_OK], [0, undefined], [1, NOT_OK]]);
    expect(h.device.state).toBe('stopped');
    expect(h.device.stats.unanswerable).toBe(1);
  });
});

describe('frames both ways, byte for byte', () => {
  const kinds: [string, CanFrame][] = [
    ['classic, standard id', frame(0x123, [0xde, 0xad, 0xbe, 0xef])],
    ['classic, empty', frame(0x7ff, [])],
    ['classic, 8 bytes, extended id', frame(0x1fff_ffff, [1, 2, 3, 4, 5, 6, 7, 8], { extended: true })],
    ['RTR asking for 4 bytes', frame(0x321, [0, 0, 0, 0], { rtr: true })],
    ['RTR, extended, DLC 0', frame(0x1234_5678, [], { rtr: true, extended: true })],
    ...[0, 8, 12, 16, 20, 24, 32, 48, 64].map((n): [string, CanFrame] => [`CAN FD, ${n} bytes`, frame(0x0ab, Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff), { fd: true })]),
    ['CAN FD, extended id, 64 bytes', frame(0x1abc_def0, Array.from({ length: 64 }, (_, i) => 255 - i), { fd: true, extended: true })],
  ];

  it.each(kinds)('%s: guest to host and host to guest', async (_name, f) => {
    const h = new Harness();
    const host = h.bus.endpoint();
    h.start();
    h.send(f);
    expect(h.txResults).toEqual([OK]);
    expect(plain((await host.receive())!)).toEqual(plain(f));
    expect(await host.send(f)).toBe(true);
    expect(h.received.map(plain)).toEqual([plain(f)]);
  });

  it('the rx buffer holds exactly a virtio_can_rx: msg_type RX, length, zero reserved fields, flags, can_id, sdu; used length 16 + length', async () => {
    const h = new Harness({ repost: false, rxBuffers: 0 });
    h.start();
    const addr = h.alloc(80);
    h.memory.fill(addr, 80, 0xee);
    expect(h.drivers[CanQueue.RXQ]!.add([], [{ addr, len: 80 }], { kind: 'raw', in: [{ addr, len: 80 }] })).toBeGreaterThanOrEqual(0);
    h.kick(CanQueue.RXQ);
    await h.bus.endpoint().send(frame(0x1234_5678, [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2], { extended: true, fd: true }));
    expect(h.used).toHaveLength(1);
    expect(h.used[0]!.len).toBe(28);
    const b = h.used[0]!.bytes;
    expect([...b.subarray(0, 28)]).toEqual([0x01, 0x01, 12, 0, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0x78, 0x56, 0x34, 0x12, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2]);
    expect([...b.subarray(28)].every((x) => x === 0xee)).toBe(true);
  });
});

describe('frames a guest gets wrong are NOT_OK and never scheduled (§5.20.5.2)', () => {
  const f = frame(0x123, [1, 2, 3, 4]);
  const rows: [string, Uint8Array, number[]?][] = [
    ['msg_type RX', txOut(f, { msgType: CanMsg.RX })],
    ['msg_type 0', txOut(f, { msgType: 0 })],
    ['length larger than the sdu sent', txOut(f, { length: 5 })],
    ['length smaller than the sdu sent', txOut(f, { length: 3 })],
    ['an undefined flag bit (0x1000)', txOut(f, { flags: 0x1000 })],
    ['an undefined flag bit (bit 31)', txOut(f, { flags: 0x8000_0000 })],
    ['a standard id above 0x7ff', txOut(f, { id: 0x800 })],
    ['an extended id above 0x1fffffff', txOut(frame(0, [1]), { flags: CanFlags.EXTENDED, id: 0x2000_0000 })],
    ['a classic frame of 9 bytes', txOut(frame(0x1, [1, 2, 3, 4, 5, 6, 7, 8, 9]))],
    ['a CAN FD frame of 13 bytes (no DLC for it)', txOut(frame(0x1, new Array(13).fill(1), { fd: true }))],
    ['a CAN FD frame of 65 bytes', txOut(frame(0x1, new Array(65).fill(1), { fd: true }))],
    ['RTR and FD together', txOut(frame(0x1, [0, 0]), { flags: CanFlags.RTR | CanFlags.FD })],
    ['an RTR frame asking for 9 bytes', txOut(frame(0x1, new Array(9).fill(0)), { flags: CanFlags.RTR })],
    ['a header cut short', txOut(f).subarray(0, 15)],
  ];

  it.each(rows)('malformed: %s', (_name, bytes) => {
    const h = new Harness();
    const host = h.bus.endpoint();
    h.start();
    h.raw(CanQueue.TXQ, [bytes], [1]);
    expect(h.used.map((u) => [u.len, u.bytes[0]])).toEqual([[1, NOT_OK]]);
    expect(host.pending).toBe(0);
    expect(h.bus.stats.frames).toBe(0);
  });

  it.each([
    ['CAN FD without VIRTIO_CAN_F_CAN_FD', [CanFeature.CAN_CLASSIC, CanFeature.RTR_FRAMES], frame(0x1, [1], { fd: true })],
    ['RTR without VIRTIO_CAN_F_RTR_FRAMES', [CanFeature.CAN_CLASSIC, CanFeature.CAN_FD], frame(0x1, [0], { rtr: true })],
    ['classic without VIRTIO_CAN_F_CAN_CLASSIC', [CanFeature.CAN_FD], frame(0x1, [1])],
  ])('not negotiated: %s', (_name, accept, f2) => {
    const h = new Harness({ accept });
    const host = h.bus.endpoint();
    h.start();
    h.send(f2);
    expect(h.txResults).toEqual([NOT_OK]);
    expect(host.pending).toBe(0);
  });

  it('a txq chain without a writable byte is returned with used length 0 and not sent; one with a longer result buffer gets used length 1', () => {
    const h = new Harness();
    const host = h.bus.endpoint();
    h.start();
    h.raw(CanQueue.TXQ, [txOut(f)], []);
    h.raw(CanQueue.TXQ, [txOut(f)], [4]);
    expect(h.used.map((u) => [u.len, u.bytes[0]])).toEqual([[0, undefined], [1, OK]]);
    expect(host.pending).toBe(1);
    expect(h.device.stats.unanswerable).toBe(1);
  });
});

describe('the bus: no echo, LATE_TX_ACK, order and back-pressure', () => {
  it('two guests on one bus see each other\'s frames and not their own; a guest with loopback sees its own too', () => {
    const bus = new CanBus();
    const a = new Harness({ bus });
    const b = new Harness({ bus });
    const c = new Harness({ bus, loopback: true });
    for (const h of [a, b, c]) h.start();
    a.send(frame(0x10, [1]));
    b.send(frame(0x20, [2]));
    c.send(frame(0x30, [3]));
    expect(a.received.map((f) => f.id)).toEqual([0x20, 0x30]);
    expect(b.received.map((f) => f.id)).toEqual([0x10, 0x30]);
    expect(c.received.map((f) => f.id)).toEqual([0x10, 0x20, 0x30]);
  });

  it('LATE_TX_ACK: a transmit buffer is used when its frame is on the bus, and waits (in order) while a receiver has no room', async () => {
    const h = new Harness();
    const host = h.bus.endpoint({ buffer: 2 });
    h.start();
    for (let i = 0; i < 5; i++) h.send(frame(0x100 + i, [i]));
    expect(h.txResults).toEqual([OK, OK, undefined, undefined, undefined]);
    expect(h.bus.stats.waiting).toBe(3);
    const got: number[] = [];
    for (let i = 0; i < 5; i++) got.push((await host.receive())!.id);
    expect(got).toEqual([0x100, 0x101, 0x102, 0x103, 0x104]);
    expect(h.txResults).toEqual([OK, OK, OK, OK, OK]);
    expect(h.bus.stats).toMatchObject({ frames: 5, waiting: 0 });
  });

  it('a guest that posts no receive buffers holds the bus after rxBuffer frames; each buffer it posts lets one more frame go, in order', async () => {
    const h = new Harness({ rxBuffers: 2, repost: false, rxBuffer: 3 });
    h.start();
    const host = h.bus.endpoint();
    const sends = Array.from({ length: 10 }, (_, i) => host.send(frame(0x200 + i, [i])));
    let settled = 0;
    for (const s of sends) void s.then(() => settled++);
    await tick();
    expect(settled).toBe(5); // 2 into posted buffers, 3 held
    expect(h.received.map((f) => f.id)).toEqual([0x200, 0x201]);
    for (let i = 0; i < 8; i++) h.postRx();
    h.kick(CanQueue.RXQ);
    await Promise.all(sends);
    expect(h.received.map((f) => f.id)).toEqual(Array.from({ length: 10 }, (_, i) => 0x200 + i));
  });

  it('frames a guest did not negotiate are not handed to it and do not hold the bus', async () => {
    const h = new Harness({ accept: [CanFeature.CAN_CLASSIC], rxBuffers: 1, repost: false });
    h.start();
    const host = h.bus.endpoint();
    for (let i = 0; i < 5; i++) expect(await host.send(frame(0x1, [1, 2], { fd: true }))).toBe(true);
    expect(await host.send(frame(0x2, [0], { rtr: true }))).toBe(true);
    expect(await host.send(frame(0x3, [3]))).toBe(true);
    expect(h.received.map((f) => f.id)).toEqual([0x3]);
  });

  it('a receive buffer too short for a frame is returned with used length 0, the frame lost to that guest, counted', async () => {
    const h = new Harness({ rxBuffers: 0, repost: false });
    h.start();
    h.postRx(16 + 8);
    h.postRx(16 + 64);
    h.kick(CanQueue.RXQ);
    const host = h.bus.endpoint();
    await host.send(frame(0x5, new Array(12).fill(7), { fd: true }));
    await host.send(frame(0x6, new Array(12).fill(8), { fd: true }));
    expect(h.used.map((u) => u.len)).toEqual([0]);
    expect(h.received.map((f) => f.id)).toEqual([0x6]);
    expect(h.device.stats.rxDropped).toBe(1);
  });
});

describe('STOP, bus-off and reset', () => {
  it('STOP answers the frames not yet on the bus NOT_OK before its own result, drops the frames held for the guest, and stops holding the bus', async () => {
    const h = new Harness({ rxBuffers: 0, repost: false, rxBuffer: 1 });
    const host = h.bus.endpoint({ filters: [{ id: 0x10, mask: 0x7f0 }] });
    h.start();
    const other = h.bus.endpoint();
    // 0x50 is held for the guest (it posted no buffer), 0x51 waits for its room, and the guest's frames wait behind
    const sent = [other.send(frame(0x50, [1])), other.send(frame(0x51, [2]))];
    for (let i = 0; i < 4; i++) h.send(frame(0x10 + i, [i]));
    expect(h.txResults).toEqual([undefined, undefined, undefined, undefined]);
    expect(h.bus.stats.waiting).toBe(5);
    // When the STOP's result is used, the cancelled frames' buffers already are (the guest's handler looks at txq first)
    let atStop: (number | undefined)[] = [];
    const reap = h.reap.bind(h);
    h.reap = (q: number) => {
      if (q === CanQueue.CONTROLQ) {
        reap(CanQueue.TXQ);
        atStop = [...h.txResults];
      }
      reap(q);
    };
    expect(h.stop()).toBe(OK);
    expect(atStop).toEqual([NOT_OK, NOT_OK, NOT_OK, NOT_OK]);
    expect(h.device.stats).toMatchObject({ txFrames: 0, txCancelled: 4, rxDropped: 1 });
    expect(await Promise.all(sent)).toEqual([true, true]); // 0x51 waited for the guest's room, and goes now it stopped
    expect(h.received).toEqual([]);
    expect(host.pending).toBe(0);
    expect(h.bus.stats).toMatchObject({ waiting: 0, cancelled: 4, frames: 2 });
  });

  it('bus-off: a started controller stops, status gets VIRTIO_CAN_S_CTRL_BUSOFF with a config change, frames waiting are NOT_OK; START clears it', () => {
    const h = new Harness();
    const host = h.bus.endpoint({ buffer: 1 });
    const changes: CanStateChange[] = [];
    h.device.onChange((c) => changes.push(c));
    let hostChanges = 0;
    h.device.attach({ configChanged: () => hostChanges++ });
    expect(h.device.busOff()).toBe(false); // stopped: nothing to do
    h.start();
    h.send(frame(0x1, [1]));
    h.send(frame(0x2, [2]));
    expect(h.device.busOff()).toBe(true);
    expect(hostChanges).toBe(1);
    expect(h.device.state).toBe('bus-off');
    expect(h.txResults).toEqual([OK, NOT_OK]);
    const cfg = new Uint8Array(2);
    h.device.readConfig(0, cfg);
    expect(cfg[0]).toBe(CanStatus.BUSOFF);
    h.send(frame(0x3, [3]));
    expect(h.txResults[2]).toBe(NOT_OK);
    expect(h.stop()).toBe(OK);
    expect(h.device.state).toBe('bus-off');
    expect(h.start()).toBe(OK);
    h.device.readConfig(0, cfg);
    expect(cfg[0]).toBe(0);
    expect(changes.map((c) => c.cause)).toEqual(['start', 'bus-off', 'start']);
    expect(h.device.stats.busOffs).toBe(1);
    expect(host.pending).toBe(1);
  });

  it('a reset with frames waiting on the bus: they never go, their buffers are not written, the bus goes on; the device serves a new activation', async () => {
    const bus = new CanBus();
    const h = new Harness({ bus });
    const host = bus.endpoint({ buffer: 1 });
    h.start();
    h.send(frame(0x1, [1]));
    h.send(frame(0x2, [2]));
    const before = h.bus.stats.frames;
    for (const q of h.queues) q!.reset(); // what the transport does before a device reset: late completions are dropped
    h.device.reset();
    expect(h.device.state).toBe('stopped');
    expect(h.txResults).toEqual([OK, undefined]);
    expect(bus.stats.waiting).toBe(0);
    expect((await host.receive())!.id).toBe(0x1);
    expect(bus.stats.frames).toBe(before);
    const again = new Harness({ bus });
    again.start();
    again.send(frame(0x3, [3]));
    expect(again.txResults).toEqual([OK]);
    expect((await host.receive())!.id).toBe(0x3);
  });

  it('a ring the guest corrupted is DEVICE_NEEDS_RESET, not an exception', () => {
    for (const q of [CanQueue.TXQ, CanQueue.RXQ, CanQueue.CONTROLQ]) {
      const h = new Harness();
      h.memory.writeU16(Number(h.drivers[q]!.queueConfig(64).driverArea) + 2, 1000); // avail idx far ahead
      expect(() => h.device.queueNotify(q)).not.toThrow();
      expect(h.resets.length).toBeGreaterThan(0);
      expect(isQueueError(h.resets[0])).toBe(true);
    }
  });

  it('buffers outside guest memory are DEVICE_NEEDS_RESET', () => {
    const h = new Harness({ rxBuffers: 0, repost: false });
    h.start();
    for (const q of [CanQueue.TXQ, CanQueue.CONTROLQ, CanQueue.RXQ]) h.drivers[q]!.add(q === CanQueue.RXQ ? [] : [{ addr: 0x7fff_0000, len: 16 }], [{ addr: 0x7fff_1000, len: 80 }], { kind: 'raw', in: [] });
    for (const q of [CanQueue.TXQ, CanQueue.CONTROLQ, CanQueue.RXQ]) expect(() => h.device.queueNotify(q)).not.toThrow();
    expect(() => h.bus.endpoint().send(frame(0x1, [1]))).not.toThrow();
    expect(h.resets.length).toBeGreaterThanOrEqual(3);
  });
});
