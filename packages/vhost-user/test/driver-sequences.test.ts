/**
 * One table over both transports: device-trait's DRIVER_SEQUENCES (the table DeviceSession's own
 * tests run) driven against the same kind of device over virtio-mmio (register writes on an
 * IoManager) and over vhost-user (the test frontend over a real unix socket), with the same
 * expectations: the features offered, FEATURES_OK refused, bad queue indices, a reset while
 * requests are in flight (late completions dropped, no interrupt after the reset), and
 * DEVICE_NEEDS_RESET from a ring the driver broke.
 *
 * A vhost-user frontend is not the guest's driver, so some steps take their vhost-user form:
 * - the features offered are GET_FEATURES without the vhost-only bit (PROTOCOL_FEATURES);
 * - a status write is SET_STATUS of the value the driver wrote (the frontend relays it; QEMU sets
 *   the bits in an order of its own, which the golden tests cover), read back with GET_STATUS;
 *   writing 0 is QEMU's device stop: GET_VRING_BASE for each running ring, SET_STATUS 0, then
 *   RESET_DEVICE;
 * - the driver features are SET_FEATURES (with PROTOCOL_FEATURES), which is refused with an error
 *   reply when the session does not accept them; FEATURES_OK is then refused as over MMIO;
 * - setting a queue up is SET_VRING_NUM / BASE / ADDR / KICK / CALL and SET_VRING_ENABLE;
 * - a notification is a write to the ring's kick eventfd; a queue the device does not have has
 *   none, so the frontend's attempt to wire one (SET_VRING_KICK for it) is what is refused;
 * - a used-buffer interrupt is a count on the ring's call eventfd.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { InMemoryInterruptController, IoManager, MmioRange } from '@vmv/bus';
import { GuestMemory } from '@vmv/memory';
import { PackedDriver, SplitDriver } from '@vmv/queue/driver';
import { EventFd } from '@vmv/sys';
import { MMIO_DEFAULT_REGION_SIZE, MmioRegister as R, VirtioMmioTransport } from '@vmv/transport-mmio';
import { SUPPORTED_PROTOCOL_FEATURES } from '@vmv/vhost-user';
import { VhostUserRequest as Q } from '@vmv/vhost-user/protocol';
import { DRIVER_SEQUENCES, EVENT_IDX, EchoDevice, RING_PACKED, breakAvailIndex, runSequence, type DriverPort } from '../../device-trait/test/support/session';
import { Frontend, GuestRam, HANG_MS, until } from './frontend';
import { releaseTracked, startBackend, track } from './harness';

const BASE = 0xd000_0000;
const IRQ = 5;
const PROTOCOL_FEATURES_BIT = 1n << 30n;

afterEach(releaseTracked);

type Driver = SplitDriver<number> | PackedDriver<number>;

/** The driver side of one queue: a ring laid out as device-trait's session rig lays it out. */
class DriverRing {
  readonly driver: Driver;
  readonly layout: { descTable: number; driverArea: number; deviceArea: number };
  readonly used: number[] = [];
  private token = 0;

  constructor(memory: GuestMemory, index: number, readonly size: number, features: bigint) {
    const packed = (features & RING_PACKED) !== 0n;
    this.layout = packed ? PackedDriver.layout(size, 0x1_0000 * (index + 1)) : SplitDriver.layout(size, 0x1_0000 * (index + 1));
    const options = { size, ...this.layout, eventIdx: (features & EVENT_IDX) !== 0n };
    this.driver = packed ? new PackedDriver<number>(memory, options) : new SplitDriver<number>(memory, options);
  }

  /** Adds `count` requests; returns whether the ring asks for a kick. */
  add(count: number): boolean {
    for (let k = 0; k < count; k++) this.driver.add([], [{ addr: 0x8_0000 + 0x40 * (this.token++ % 256), len: 16 }], this.token);
    return this.driver.kickPrepare();
  }

  collect(): number {
    for (let u = this.driver.getBuf(); u !== null; u = this.driver.getBuf()) this.used.push(u.token);
    return this.used.length;
  }
}

/** The port over virtio-mmio: every step is register accesses on the bus. */
function mmioPort(device: EchoDevice): DriverPort {
  const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x10_0000) }]);
  const irqs = new InMemoryInterruptController();
  const transport = new VirtioMmioTransport(device, { memory, interrupt: irqs.createLegacyGroup(IRQ, 1, 'level') });
  const io = new IoManager();
  io.registerMmio(new MmioRange(BASE, MMIO_DEFAULT_REGION_SIZE), transport);
  const buf = new Uint8Array(4);
  const view = new DataView(buf.buffer);
  const read = (offset: number): number => {
    io.mmioRead(BASE + offset, buf);
    return view.getUint32(0, true);
  };
  const write = (offset: number, value: number): void => {
    view.setUint32(0, value >>> 0, true);
    io.mmioWrite(BASE + offset, buf);
  };
  const rings: (DriverRing | null)[] = device.queueMaxSizes.map(() => null);
  let features = 0n;
  let interrupts = 0;
  /** The driver's interrupt handler: used-buffer interrupts counted and acknowledged. */
  const handleInterrupt = (): void => {
    const status = read(R.INTERRUPT_STATUS);
    if (status & 1) interrupts++;
    if (status !== 0) write(R.INTERRUPT_ACK, status);
  };
  return {
    device,
    offeredFeatures: () => {
      write(R.DEVICE_FEATURES_SEL, 0);
      const lo = read(R.DEVICE_FEATURES);
      write(R.DEVICE_FEATURES_SEL, 1);
      return (BigInt(read(R.DEVICE_FEATURES)) << 32n) | BigInt(lo);
    },
    writeStatus: (value) => {
      write(R.STATUS, value);
      return read(R.STATUS);
    },
    readStatus: () => read(R.STATUS),
    writeFeatures: (f) => {
      features = f;
      write(R.DRIVER_FEATURES_SEL, 0);
      write(R.DRIVER_FEATURES, Number(f & 0xffff_ffffn));
      write(R.DRIVER_FEATURES_SEL, 1);
      write(R.DRIVER_FEATURES, Number(f >> 32n));
    },
    setupQueue: (index) => {
      const ring = new DriverRing(memory, index, device.queueMaxSizes[index]!, features);
      rings[index] = ring;
      write(R.QUEUE_SEL, index);
      write(R.QUEUE_NUM, ring.size);
      write(R.QUEUE_DESC_LOW, ring.layout.descTable);
      write(R.QUEUE_DESC_HIGH, 0);
      write(R.QUEUE_DRIVER_LOW, ring.layout.driverArea);
      write(R.QUEUE_DRIVER_HIGH, 0);
      write(R.QUEUE_DEVICE_LOW, ring.layout.deviceArea);
      write(R.QUEUE_DEVICE_HIGH, 0);
      write(R.QUEUE_READY, 1);
    },
    submit: (index, count) => {
      if (rings[index]!.add(count)) write(R.QUEUE_NOTIFY, index);
      handleInterrupt();
    },
    notify: (index) => {
      write(R.QUEUE_NOTIFY, index);
      handleInterrupt();
    },
    corruptAvail: (index) => {
      breakAvailIndex(memory, rings[index]!.layout.driverArea);
      write(R.QUEUE_NOTIFY, index);
      handleInterrupt();
    },
    usedCount: (index) => rings[index]!.collect(),
    usedInterrupts: () => {
      handleInterrupt();
      return interrupts;
    },
    settle: (cond, what) => {
      if (!cond()) throw new Error(`${what}: does not hold`);
    },
  };
}

/** The port over vhost-user: every step is frontend messages and eventfds on a real socket. */
async function vhostUserPort(device: EchoDevice): Promise<DriverPort> {
  // GET_VRING_BASE waits this long for requests the device holds (the in-flight reset row)
  const { path, events } = startBackend('table', device, { drainTimeoutMs: 1 });
  const ram = track(new GuestRam());
  const fe = track(new Frontend(path));
  await fe.request({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: SUPPORTED_PROTOCOL_FEATURES });
  await fe.request({ request: Q.SET_OWNER, needReply: false });
  expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: ram.regions, fds: [ram.fd, ram.fd] })).toBe(0n);
  const kicks = device.queueMaxSizes.map(() => track(new EventFd()));
  const calls = device.queueMaxSizes.map(() => track(new EventFd()));
  const rings: (DriverRing | null)[] = device.queueMaxSizes.map(() => null);
  const running = new Set<number>();
  let features = 0n;
  let interrupts = 0;
  const readStatus = async (): Promise<number> => Number(await fe.u64({ request: Q.GET_STATUS, needReply: false }));
  const needsResets = (): number => events.filter((e) => e.type === 'needs-reset').length;
  return {
    device,
    offeredFeatures: async () => (await fe.u64({ request: Q.GET_FEATURES, needReply: false })) & ~PROTOCOL_FEATURES_BIT,
    writeStatus: async (value) => {
      if (value === 0) {
        for (const index of running) await fe.request({ request: Q.GET_VRING_BASE, needReply: false, index, num: 0 });
        running.clear();
        await fe.request({ request: Q.SET_STATUS, needReply: false, value: 0n });
        expect(await fe.ack({ request: Q.RESET_DEVICE, needReply: true })).toBe(0n);
      } else {
        await fe.request({ request: Q.SET_STATUS, needReply: false, value: BigInt(value) });
      }
      return readStatus();
    },
    readStatus,
    writeFeatures: async (f) => {
      features = f;
      // refused (an error reply) when the session does not accept them, as the table expects
      await fe.ack({ request: Q.SET_FEATURES, needReply: true, value: f | PROTOCOL_FEATURES_BIT });
    },
    setupQueue: async (index) => {
      const ring = new DriverRing(ram.memory, index, device.queueMaxSizes[index]!, features);
      rings[index] = ring;
      const packed = (features & RING_PACKED) !== 0n;
      await fe.request({ request: Q.SET_VRING_NUM, needReply: false, index, num: ring.size });
      await fe.request({ request: Q.SET_VRING_BASE, needReply: false, index, num: packed ? 0x8000_8000 : 0 });
      const { descTable, driverArea, deviceArea } = ring.layout;
      const addr = { index, flags: 0, descUserAddr: ram.uaddr(descTable), usedUserAddr: ram.uaddr(deviceArea), availUserAddr: ram.uaddr(driverArea), logGuestAddr: 0n };
      expect(await fe.ack({ request: Q.SET_VRING_ADDR, needReply: true, addr })).toBe(0n);
      await fe.request({ request: Q.SET_VRING_KICK, needReply: false, index, fd: kicks[index]!.fd });
      await fe.request({ request: Q.SET_VRING_CALL, needReply: false, index, fd: calls[index]!.fd });
      expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index, num: 1 })).toBe(0n);
      running.add(index);
    },
    submit: (index, count) => {
      if (rings[index]!.add(count)) kicks[index]!.write(1);
    },
    notify: async (index) => {
      // no kick eventfd exists for a queue the device does not have: wiring one is refused
      const kick = new EventFd();
      try {
        expect(await fe.ack({ request: Q.SET_VRING_KICK, needReply: true, index, fd: kick.fd })).toBe(1n);
      } finally {
        kick.close();
      }
    },
    corruptAvail: async (index) => {
      const before = needsResets();
      breakAvailIndex(ram.memory, rings[index]!.layout.driverArea);
      kicks[index]!.write(1);
      await until(() => needsResets() > before, HANG_MS, 'DEVICE_NEEDS_RESET');
    },
    usedCount: (index) => rings[index]!.collect(),
    usedInterrupts: () => {
      for (const call of calls) interrupts += call.read() ?? 0;
      return interrupts;
    },
    settle: (cond, what) => until(cond, HANG_MS, what),
  };
}

const report = (what: string, actual: unknown, expected: unknown): void => expect({ what, actual }).toEqual({ what, actual: expected });

describe('device-trait DRIVER_SEQUENCES over virtio-mmio', () => {
  for (const seq of DRIVER_SEQUENCES) {
    it(seq.name, async () => {
      await runSequence(mmioPort(new EchoDevice()), seq, report);
    });
  }
});

describe('device-trait DRIVER_SEQUENCES over vhost-user', () => {
  for (const seq of DRIVER_SEQUENCES) {
    it(seq.name, async () => {
      await runSequence(await vhostUserPort(new EchoDevice()), seq, report);
    });
  }
});
