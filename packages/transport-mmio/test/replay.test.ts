/**
 * Conformance layer 4: replay of what a real Linux 6.1 driver wrote to and read from three
 * virtio-mmio devices under QEMU 7.2 (test/fixtures/linux-6.1-virtio-mmio-probe-trace.txt),
 * against @vmv/transport-mmio serving test devices of the same types (blk, rng, console) on an
 * IoManager. Every write of the trace is replayed with its value; every read is made and its
 * result checked where the driver's next step depends on it; "setting IRQ" lines are where the
 * device raised or lowered its line.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InMemoryInterruptController, IoManager, MmioRange } from '@vmv/bus';
import { GuestMemory } from '@vmv/memory';
import { MMIO_DEFAULT_REGION_SIZE, MMIO_MAGIC_VALUE, VirtioMmioTransport } from '@vmv/transport-mmio';
import type { MmioDiagnostic } from '@vmv/transport-mmio';
import { DeviceId, Feature, featureBit } from '@vmv/device-trait';
import { RNG_FEATURES, TestDevice, traceDevices } from './helpers/devices';
import { attribute, parseTrace } from './helpers/trace';
import type { AttributedEvent } from './helpers/trace';

const TRACE = readFileSync(join(__dirname, 'fixtures', 'linux-6.1-virtio-mmio-probe-trace.txt'), 'utf8');
const BASES = [0xd000_0000, 0xd000_0200, 0xd000_0400];
const IRQS = [5, 6, 7];
const NAMES = ['blk', 'rng', 'console'];

/**
 * Widths of Linux's narrow configuration reads (virtio_blk_config fields read with
 * virtio_cread8/16); every other configuration read of the trace is a 32-bit one.
 */
const BLK_NARROW: Readonly<Record<number, 1 | 2>> = { 0x18: 1, 0x19: 1, 0x1a: 2, 0x20: 1 };

/** Guest memory made of 64 KiB-aligned regions covering every ring address the trace writes. */
function memoryForTrace(events: readonly AttributedEvent[]): GuestMemory {
  const chunks = new Set<number>();
  for (const { event: e } of events) {
    if (e.kind !== 'write') continue;
    if (e.offset === 0x84 || e.offset === 0x94 || e.offset === 0xa4) expect(e.value).toBe(0); // all rings below 4 GiB
    if (e.offset !== 0x80 && e.offset !== 0x90 && e.offset !== 0xa0) continue;
    // A split ring of 1024 entries spans at most 0x7006 bytes from its descriptor table.
    for (let a = Math.floor(e.value / 0x10000); a <= Math.floor((e.value + 0x8000) / 0x10000); a++) chunks.add(a);
  }
  const sorted = [...chunks].sort((a, b) => a - b);
  const regions: { start: number; backing: ArrayBuffer }[] = [];
  let i = 0;
  while (i < sorted.length) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    regions.push({ start: sorted[i]! * 0x10000, backing: new ArrayBuffer((j - i + 1) * 0x10000) });
    i = j + 1;
  }
  return GuestMemory.fromRegions(regions);
}

/** Replays the whole trace; returns what happened and every way the transport disagreed with the real device. */
function replay(devices: TestDevice[] = traceDevices()) {
  const events = attribute(parseTrace(TRACE), 3);
  const memory = memoryForTrace(events);
  const irqs = new InMemoryInterruptController();
  const io = new IoManager();
  const diagnostics: [string, MmioDiagnostic][] = [];
  const problems: string[] = [];
  const transports = devices.map((dev, i) => {
    const t = new VirtioMmioTransport(dev, { memory, interrupt: irqs.createLegacyGroup(IRQS[i]!, 1, 'level'), onDiagnostic: (d) => diagnostics.push([NAMES[i]!, d]) });
    io.registerMmio(new MmioRange(BASES[i]!, MMIO_DEFAULT_REGION_SIZE), t);
    return t;
  });
  const checks = { interruptAcks: 0, lineLow: 0, lineHigh: 0, featuresOkReadBacks: 0, reads: 0, writes: 0 };
  const lastNotify = [0, 0, 0];
  let lastIsr: [number, number] = [-1, 0];
  let prevWrite: { device: number; offset: number; value: number } | null = null;
  const buf4 = new Uint8Array(4);
  const expectRead = (line: number, d: number, what: string, got: number, ok: boolean) => {
    if (!ok) problems.push(`line ${line} (${NAMES[d]}): ${what} read 0x${got.toString(16)}`);
  };
  for (const { event: e, device: d } of events) {
    if (e.kind === 'read') {
      const width = e.offset >= 0x100 ? (d === 0 ? (BLK_NARROW[e.offset - 0x100] ?? 4) : 4) : 4;
      const data = new Uint8Array(width);
      io.mmioRead(BASES[d]! + e.offset, data);
      checks.reads++;
      const v = width === 4 ? new DataView(data.buffer).getUint32(0, true) : width === 2 ? new DataView(data.buffer).getUint16(0, true) : data[0]!;
      if (e.offset === 0x0) expectRead(e.line, d, 'MagicValue', v, v === MMIO_MAGIC_VALUE);
      if (e.offset === 0x4) expectRead(e.line, d, 'Version', v, v === 2);
      if (e.offset === 0x44) expectRead(e.line, d, 'QueueReady before setup', v, v === 0); // vm_setup_vq: not in use yet
      if (e.offset === 0x34) expectRead(e.line, d, 'QueueNumMax', v, v === 1024);
      if (e.offset === 0x60) lastIsr = [d, v];
      if (e.offset === 0x70 && prevWrite?.device === d && prevWrite.offset === 0x70 && prevWrite.value === 0xb) {
        expectRead(e.line, d, 'Status after FEATURES_OK', v, (v & 0x8) === 0x8); // virtio_features_ok read-back
        checks.featuresOkReadBacks++;
      }
    } else if (e.kind === 'write') {
      new DataView(buf4.buffer).setUint32(0, e.value, true);
      if (e.offset === 0x64) {
        // vm_interrupt acknowledges exactly what it read from InterruptStatus.
        if (lastIsr[0] !== d || lastIsr[1] !== e.value) problems.push(`line ${e.line} (${NAMES[d]}): Linux acknowledged 0x${e.value.toString(16)} after InterruptStatus read 0x${lastIsr[1].toString(16)}`);
        checks.interruptAcks++;
      }
      if (e.offset === 0x50) lastNotify[d] = e.value;
      io.mmioWrite(BASES[d]! + e.offset, buf4);
      checks.writes++;
      prevWrite = { device: d, offset: e.offset, value: e.value };
    } else if (e.kind === 'irq') {
      if (d < 0) continue; // QEMU's machine reset, before any probe
      if (e.level === 1) {
        // The device completed a request (the trace has no ring contents): signal it as the device would.
        const ctx = devices[d]!.ctx;
        if (ctx === null) problems.push(`line ${e.line} (${NAMES[d]}): the device raised its line but is not activated`);
        else ctx.interrupt.signalUsedBuffer(lastNotify[d]!);
        if (!irqs.isAsserted(IRQS[d]!)) problems.push(`line ${e.line} (${NAMES[d]}): line not raised`);
        checks.lineHigh++;
      } else {
        if (irqs.isAsserted(IRQS[d]!)) problems.push(`line ${e.line} (${NAMES[d]}): line still raised`);
        checks.lineLow++;
      }
    } else {
      // QEMU logs the QueueNum write once more with its VIRTQUEUE_MAX_SIZE.
      expect(prevWrite).toEqual({ device: d, offset: 0x38, value: e.value });
      expect(e.value).toBeLessThanOrEqual(e.max);
    }
  }
  return { events, devices, transports, diagnostics, problems, checks };
}

describe('replay of the Linux 6.1 virtio-mmio probe trace', () => {
  const r = replay();

  it('parses the whole trace and attributes every line to a device by Linux probe order', () => {
    expect(r.events.length).toBe(1000);
    const counts = [0, 0, 0];
    for (const { device } of r.events) if (device >= 0) counts[device]!++;
    expect(counts[0]).toBeGreaterThan(40);
    expect(counts[1]).toBeGreaterThan(30);
    expect(counts[2]).toBeGreaterThan(64 * 12);
  });

  it('accepts every access: no diagnostic at all, and every value read is one Linux could continue with', () => {
    expect(r.diagnostics.map(([dev, d]) => `${dev}: ${d.kind} at 0x${d.offset.toString(16)}: ${d.message}`)).toEqual([]);
    expect(r.problems).toEqual([]);
    expect(r.checks.reads + r.checks.writes).toBe(r.events.filter(({ event: e }) => e.kind === 'read' || e.kind === 'write').length);
    expect(r.checks.reads + r.checks.writes).toBe(883); // as the README says
  });

  it('brings each device to DRIVER_OK (status 0xf) and activates it', () => {
    for (const t of r.transports) {
      expect(t.status).toBe(0xf);
      expect(t.activated).toBe(true);
    }
    expect(r.devices.map((d: TestDevice) => d.activations)).toEqual([1, 1, 1]);
    // virtio_dev_probe's read-back of FEATURES_OK, once per device
    expect(r.checks.featuresOkReadBacks).toBe(3);
  });

  it('negotiates what Linux wrote to DriverFeatures', () => {
    expect(r.transports.map((t) => t.negotiatedFeatures)).toEqual([0x1_3000_6e54n, 0x1_3000_0000n, 0x1_3000_0002n]);
  });

  it('configures every queue the driver set ready, at the addresses in the trace, and runs it', () => {
    const expected = new Map<string, { size: number; desc: number; avail: number; used: number }>();
    const sel = [0, 0, 0];
    const pending = [{}, {}, {}] as Record<string, number>[];
    for (const { event: e, device: d } of r.events) {
      if (e.kind !== 'write' || d < 0) continue;
      if (e.offset === 0x30) sel[d] = e.value;
      if (e.offset === 0x38) pending[d]!.size = e.value;
      if (e.offset === 0x80) pending[d]!.desc = e.value;
      if (e.offset === 0x90) pending[d]!.avail = e.value;
      if (e.offset === 0xa0) pending[d]!.used = e.value;
      if (e.offset === 0x44 && e.value === 1) expected.set(`${d}:${sel[d]}`, { ...pending[d] } as { size: number; desc: number; avail: number; used: number });
    }
    expect(expected.size).toBe(1 + 1 + 64);
    for (const [key, q] of expected) {
      const [d, i] = key.split(':').map(Number) as [number, number];
      const info = r.transports[d]!.queueInfo(i);
      expect(info).toEqual({ maxSize: 1024, size: q.size, ready: true, descTable: q.desc, driverArea: q.avail, deviceArea: q.used, active: true });
    }
    expect(r.transports[0]!.queueInfo(0).descTable).toBe(0x5ab_0000);
    expect(r.devices[2]!.ctx!.queues.filter((q) => q !== null)).toHaveLength(64);
  });

  it('follows the interrupt line: raised on each completion, lowered by each acknowledge and reset', () => {
    expect(r.checks.lineHigh).toBeGreaterThan(20);
    expect(r.checks.lineLow).toBeGreaterThan(20);
    expect(r.checks.interruptAcks).toBeGreaterThan(20);
    for (const t of r.transports) expect(t.interruptStatus).toBe(0);
  });

  it('negative control: a device offering less than Linux accepted makes the replay fail', () => {
    const devices = traceDevices();
    devices[1] = new TestDevice({ deviceId: DeviceId.ENTROPY, features: RNG_FEATURES & ~featureBit(Feature.EVENT_IDX), queueMaxSizes: [1024] });
    const bad = replay(devices);
    expect(bad.diagnostics.map(([dev, d]) => `${dev}: ${d.kind}`)).toContain('rng: features-refused');
    expect(bad.problems.some((p) => p.includes('(rng): Status after FEATURES_OK'))).toBe(true);
    expect(bad.transports[1]!.status).not.toBe(0xf);
    expect(bad.transports[0]!.status).toBe(0xf);
  });
});
