/**
 * The driver model against the real thing: its register accesses while probing each device of
 * the Linux 6.1 trace must be exactly Linux's (same registers, same order, same values written),
 * with the device-specific steps of virtio_blk / virtio_rng / virtio_console probe (their
 * configuration reads) scripted from the trace.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InMemoryInterruptController, IoManager, MmioRange } from '@vmv/bus';
import { GuestMemory } from '@vmv/memory';
import { MMIO_DEFAULT_REGION_SIZE, VirtioMmioTransport } from '@vmv/transport-mmio';
import { VirtioMmioDriver } from '@vmv/transport-mmio/driver';
import type { MmioAccess } from '@vmv/transport-mmio/driver';
import { traceDevices } from './helpers/devices';
import { attribute, parseTrace } from './helpers/trace';
import type { AttributedEvent } from './helpers/trace';

const TRACE = readFileSync(join(__dirname, 'fixtures', 'linux-6.1-virtio-mmio-probe-trace.txt'), 'utf8');
const EVENTS = attribute(parseTrace(TRACE), 3);

// Linux 6.1 feature tables (drv->feature_table).
const BLK_TABLE = [2, 1, 4, 5, 6, 9, 10, 11, 12, 13, 14, 16]; // SEG_MAX SIZE_MAX GEOMETRY RO BLK_SIZE FLUSH TOPOLOGY CONFIG_WCE MQ DISCARD WRITE_ZEROES SECURE_ERASE
const CONSOLE_TABLE = [0, 1, 2]; // SIZE MULTIPORT EMERG_WRITE
const RNG_TABLE: number[] = [];

type Step = string;

/** "R 0x70", "W 0x70=0x3"; address low halves of queues other than 0 as "*" when `maskAddresses`. */
function render(accesses: readonly { write: boolean; offset: number; value?: number }[], maskAddresses: boolean): Step[] {
  let sel = 0;
  return accesses.map((a) => {
    if (a.write && a.offset === 0x30) sel = a.value!;
    if (!a.write) return `R 0x${a.offset.toString(16)}`;
    const masked = maskAddresses && sel > 0 && (a.offset === 0x80 || a.offset === 0x90 || a.offset === 0xa0);
    return `W 0x${a.offset.toString(16)}=${masked ? '*' : `0x${a.value!.toString(16)}`}`;
  });
}

/** The trace's registration and driver-probe sequences of device `d` (accesses only). */
function traceSegments(d: number): { registration: Step[]; probe: Step[]; firstDesc: number } {
  const mine = EVENTS.filter((a: AttributedEvent) => a.device === d && (a.event.kind === 'read' || a.event.kind === 'write'));
  const acc = mine.map(({ event: e }) => (e.kind === 'write' ? { write: true, offset: e.offset, value: e.value } : { write: false, offset: (e as { offset: number }).offset }));
  const ackAt = acc.findIndex((a) => a.write && a.offset === 0x70 && a.value === 0x1);
  const okAt = acc.findIndex((a) => a.write && a.offset === 0x70 && ((a.value ?? 0) & 0x4) !== 0);
  const firstDesc = acc.find((a) => a.write && a.offset === 0x80)!.value!;
  return { registration: render(acc.slice(0, ackAt + 1), d === 2), probe: render(acc.slice(ackAt + 1, okAt + 1), d === 2), firstDesc };
}

function driverFor(d: number, ringBase: number) {
  const device = traceDevices()[d]!;
  const memory = GuestMemory.fromRegions([{ start: ringBase, backing: new ArrayBuffer(0x40_0000) }]);
  const io = new IoManager();
  const transport = new VirtioMmioTransport(device, { memory, interrupt: new InMemoryInterruptController().createLegacyGroup(5, 1, 'level') });
  io.registerMmio(new MmioRange(0xd000_0000, MMIO_DEFAULT_REGION_SIZE), transport);
  const log: MmioAccess[] = [];
  const driver = new VirtioMmioDriver({ bus: io, base: 0xd000_0000, memory, ringMemory: { base: ringBase, size: 0x40_0000 }, onAccess: (a) => log.push(a) });
  return { driver, log, transport };
}

describe('the driver model makes exactly Linux 6.1\'s register accesses', () => {
  it('virtio-blk: registration, features, seg_max, one queue, config reads, capacity, DRIVER_OK', () => {
    const want = traceSegments(0);
    const { driver, log, transport } = driverFor(0, want.firstDesc);
    driver.probe();
    const registration = render(log.splice(0), false);
    driver.negotiate(BLK_TABLE);
    driver.cread32(0x0c); // seg_max, before init_vq
    driver.setupQueue(0);
    // virtblk_probe: writeback, blk_size, topology (physical_block_exp, alignment_offset, min_io_size, opt_io_size), discard, write zeroes
    driver.cread8(0x20);
    driver.cread32(0x14);
    driver.cread8(0x18);
    driver.cread8(0x19);
    driver.cread16(0x1a);
    driver.cread32(0x1c);
    driver.cread32(0x2c);
    driver.cread32(0x24);
    driver.cread32(0x28);
    driver.cread32(0x30);
    expect(driver.cread64(0)).toBe(0x20000n); // capacity, in a ConfigGeneration loop
    driver.ready();
    expect(registration).toEqual(want.registration);
    expect(render(log, false)).toEqual(want.probe);
    expect(transport.status).toBe(0xf);
    expect(driver.features).toBe(0x1_3000_6e54n);
  });

  it('virtio-rng: registration, features, one queue, DRIVER_OK', () => {
    const want = traceSegments(1);
    const { driver, log, transport } = driverFor(1, want.firstDesc);
    driver.probe();
    const registration = render(log.splice(0), false);
    driver.negotiate(RNG_TABLE);
    driver.setupQueue(0);
    driver.ready();
    expect(registration).toEqual(want.registration);
    expect(render(log, false)).toEqual(want.probe);
    expect(transport.status).toBe(0xf);
  });

  it('virtio-console (multiport): registration, features, max_nr_ports, 64 queues, DRIVER_OK', () => {
    const want = traceSegments(2);
    const { driver, log, transport } = driverFor(2, want.firstDesc);
    driver.probe();
    const registration = render(log.splice(0), true);
    driver.negotiate(CONSOLE_TABLE);
    expect(driver.cread32(4)).toBe(31); // max_nr_ports
    for (let i = 0; i < 64; i++) driver.setupQueue(i);
    driver.ready();
    expect(registration).toEqual(want.registration);
    expect(render(log, true)).toEqual(want.probe);
    expect(want.probe.length).toBe(16 + 64 * 11); // 11 accesses per vm_setup_vq
    expect(transport.status).toBe(0xf);
  });
});
