/**
 * The device behind @vmv/transport-mmio, driven by the model of Linux's virtio-mmio driver the way
 * virtio_input drives it: the config probe before DRIVER_OK, eventq filled with 8-byte buffers, a
 * status buffer per LED change, and a corrupted ring leading to DEVICE_NEEDS_RESET.
 */
import { describe, expect, it } from '@jest/globals';
import { InMemoryInterruptController, IoManager, MmioRange } from '@vmv/bus';
import { GuestMemory } from '@vmv/memory';
import { MMIO_DEFAULT_REGION_SIZE, VirtioMmioTransport } from '@vmv/transport-mmio';
import { VirtioMmioDriver } from '@vmv/transport-mmio/driver';
import { decodeEvent, encodeEvent, EventType, InputDevice, Led, touchscreen, keyboard, Abs, Syn, validateDescription, Btn } from '@vmv/input';
import type { InputDescription, InputEvent } from '@vmv/input';
import { linuxProbe } from './support/linux-probe';

function bringUp(description: InputDescription, fill = 64) {
  const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(4 << 20) }]);
  const irqs = new InMemoryInterruptController({ onDeliver: () => driver.interrupt() });
  const status: InputEvent[] = [];
  const device = new InputDevice({ description, onStatus: (e) => status.push(e) });
  const io = new IoManager();
  io.registerMmio(new MmioRange(0xd000_0000, MMIO_DEFAULT_REGION_SIZE), new VirtioMmioTransport(device, { memory, interrupt: irqs.createLegacyGroup(5, 1, 'level') }));
  const driver = new VirtioMmioDriver({ bus: io, base: 0xd000_0000, memory, ringMemory: { base: 0x10_0000, size: 0x10_0000 } });
  expect(driver.probe().deviceId).toBe(18);
  driver.negotiate([]);
  const probed = linuxProbe({
    read: (o, b) => b.set(driver.creadBytes(o, b.length)),
    write: (o, b) => b.forEach((x, i) => driver.cwrite8(o + i, x)),
  });
  const got: InputEvent[] = [];
  const evq = driver.setupQueue<number>(0, {
    callback: (q) => {
      for (let u = q.getBuf(); u; u = q.getBuf()) {
        got.push(decodeEvent(read(memory, 0x8_0000 + u.token * 8)));
        q.add([], [{ addr: 0x8_0000 + u.token * 8, len: 8 }], u.token); // virtinput_queue_evtbuf
      }
      q.kick();
    },
  });
  const stq = driver.setupQueue<number>(1, { callback: (q) => { while (q.getBuf()); } });
  driver.ready();
  for (let i = 0; i < fill; i++) evq.add([], [{ addr: 0x8_0000 + i * 8, len: 8 }], i); // virtinput_fill_evt
  evq.kick();
  return { memory, device, driver, probed, got, evq, stq, status };
}

function read(memory: GuestMemory, addr: number): Uint8Array {
  const b = new Uint8Array(8);
  memory.read(addr, b);
  return b;
}

describe('InputDevice over virtio-mmio with the Linux driver model', () => {
  it('the probe reads the touchscreen as described; 300 multitouch packets arrive in order through the recycled 64 buffers', () => {
    const t = bringUp(touchscreen());
    const d = validateDescription(touchscreen());
    expect([t.probed.name, t.probed.ids, t.probed.props, t.probed.events, t.probed.abs]).toEqual([d.name, d.ids, d.properties, d.events, d.abs]);
    const sent: InputEvent[] = [];
    for (let i = 0; i < 300; i++) {
      const p = [
        { type: EventType.EV_ABS, code: Abs.MT_SLOT, value: i % 10 }, { type: EventType.EV_ABS, code: Abs.MT_TRACKING_ID, value: i },
        { type: EventType.EV_ABS, code: Abs.MT_POSITION_X, value: i * 7 }, { type: EventType.EV_ABS, code: Abs.MT_POSITION_Y, value: 32767 - i },
        { type: EventType.EV_KEY, code: Btn.TOUCH, value: 1 }, { type: EventType.EV_SYN, code: Syn.SYN_REPORT, value: 0 },
      ];
      t.device.sendPacket(p);
      sent.push(...p);
    }
    expect(t.got).toEqual(sent);
    expect(t.device.stats).toMatchObject({ delivered: 1800, droppedEvents: 0 });
  });

  it('a keyboard LED change from the driver reaches the host on statusq', () => {
    const t = bringUp(keyboard());
    t.memory.write(0x9_0000, encodeEvent({ type: EventType.EV_LED, code: Led.CAPSL, value: 1 }));
    t.stq.add([{ addr: 0x9_0000, len: 8 }], [], 1);
    t.stq.kick();
    expect(t.status).toEqual([{ type: EventType.EV_LED, code: Led.CAPSL, value: 1 }]);
  });

  it('a corrupted eventq ring: DEVICE_NEEDS_RESET, no exception; after a reset the device works again', () => {
    const t = bringUp(keyboard(), 0);
    // Linux takes the packed ring the device offers: the next descriptor is made available with an
    // indirect table whose length is no multiple of 16
    expect((t.driver.features >> 34n) & 1n).toBe(1n);
    const slot = Number(t.evq.descTable);
    t.memory.writeU32(slot, 0x9_0000);
    t.memory.writeU32(slot + 8, 13);
    t.memory.writeU16(slot + 12, 0);
    t.memory.writeU16(slot + 14, 0x4 | 0x80); // INDIRECT | AVAIL (wrap counter 1)
    // the device takes a buffer only for an event: the next one finds the corruption
    expect(() => t.evq.notify()).not.toThrow();
    expect(t.driver.needsReset()).toBe(false);
    expect(() => t.device.sendPacket([{ type: EventType.EV_KEY, code: 30, value: 1 }, { type: 0, code: 0, value: 0 }])).not.toThrow();
    expect(t.driver.needsReset()).toBe(true);
    t.driver.reset();
    t.driver.deleteQueues();
    const u = bringUp(keyboard());
    u.device.sendPacket([{ type: EventType.EV_KEY, code: 30, value: 1 }, { type: 0, code: 0, value: 0 }]);
    expect(u.got).toHaveLength(2);
  });
});
