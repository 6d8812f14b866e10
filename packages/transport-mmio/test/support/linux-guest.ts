/**
 * What the tests' models of Linux virtio drivers share (console's virtio_console.c, vsock's
 * virtio_transport.c): the device behind an in-process VirtioMmioTransport on an MMIO bus, in
 * front of it the model of Linux 6.1's virtio-mmio driver (VIRTIO 1.2 §4.2.3) with its interrupt
 * handler run as a microtask once the line is raised; virtio_find_vqs, every queue set up in
 * order (with indirect tables when a test asks); and buffers cut into descriptors where a test
 * says, so that device code meets chains split anywhere. Test support shared between packages,
 * imported by relative path (as device-trait's test/support is); no published export.
 */
import { InMemoryInterruptController, IoManager, MmioRange } from '@vmv/bus';
import { Feature, type VirtioDevice } from '@vmv/device-trait';
import type { GuestMemory } from '@vmv/memory';
import { MMIO_DEFAULT_REGION_SIZE, VirtioMmioTransport } from '@vmv/transport-mmio';
import { LINUX_6_1_TRANSPORT_FEATURES, VirtioMmioDriver, type DriverQueue } from '@vmv/transport-mmio/driver';

const MMIO_BASE = 0xd000_0000;
const IRQ = 5;

/** How a driver model lays out its rings and buffers. */
export interface LinuxGuestOptions {
  /** Use packed rings when offered (default: split). */
  readonly packed?: boolean;
  /** Lengths of a buffer's first descriptors (the rest in one more); default one descriptor. */
  readonly split?: readonly number[];
  /** Indirect descriptor tables of this many entries (default none). */
  readonly indirect?: number;
}

/** Where the guest's memory is, and what the driver model does on a configuration change. */
export interface LinuxGuestSetup {
  readonly memory: GuestMemory;
  /** Where the driver model allocates its rings. */
  readonly ringMemory: { readonly base: number; readonly size: number };
  readonly onConfigChange?: () => void;
}

export class LinuxGuest {
  readonly driver: VirtioMmioDriver;

  constructor(
    device: VirtioDevice,
    setup: LinuxGuestSetup,
    private readonly options: LinuxGuestOptions = {},
  ) {
    const io = new IoManager();
    const irqs = new InMemoryInterruptController({ onDeliver: () => queueMicrotask(() => this.driver.interrupt()) });
    io.registerMmio(new MmioRange(MMIO_BASE, MMIO_DEFAULT_REGION_SIZE), new VirtioMmioTransport(device, { memory: setup.memory, interrupt: irqs.createLegacyGroup(IRQ, 1, 'level') }));
    const transportFeatures = LINUX_6_1_TRANSPORT_FEATURES.filter((f) => options.packed === true || f !== Feature.RING_PACKED);
    this.driver = new VirtioMmioDriver({ bus: io, base: MMIO_BASE, memory: setup.memory, ringMemory: setup.ringMemory, transportFeatures, onConfigChange: setup.onConfigChange });
  }

  /** virtio_find_vqs: queues 0 to `count - 1`, each with `callback` as its interrupt handler. */
  setupQueues(count: number, callback: (dq: DriverQueue<number>) => void): DriverQueue<number>[] {
    const opts = this.options.indirect === undefined ? {} : { indirectEntries: this.options.indirect };
    return Array.from({ length: count }, (_, q) => this.driver.setupQueue<number>(q, { ...opts, callback }));
  }

  /** The descriptors of a buffer of `len` bytes at `addr`: cut after the lengths in `pieces`, the rest in one. */
  segments(addr: number, len: number, pieces = this.options.split): { addr: number; len: number }[] {
    if (pieces === undefined || pieces.length === 0) return [{ addr, len }];
    const out: { addr: number; len: number }[] = [];
    let at = 0;
    // The first segments as listed, the rest of the buffer in one: boundaries anywhere, rings not exhausted.
    for (let i = 0; at < len; i++) {
      const n = i < pieces.length ? Math.min(Math.max(1, pieces[i]!), len - at) : len - at;
      out.push({ addr: addr + at, len: n });
      at += n;
    }
    return out;
  }
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Lets queued microtasks and immediates run until `done()` holds (bounded by turns, not time). */
export async function until(done: () => boolean, turns = 100_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (done()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error('until: the condition never held');
}
