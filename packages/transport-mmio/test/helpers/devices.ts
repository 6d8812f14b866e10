/**
 * Test devices: a configurable VirtioDevice that records what the transport does to it, and the
 * three device shapes of the Linux 6.1 trace (blk, rng, console) with the feature bits and
 * configuration sizes QEMU 7.2 offered there.
 */
import { ConfigSpace, DeviceId, serveQueue } from '@vmv/device-trait';
import type { ActivationContext, DescriptorChain, DeviceHost, ServedQueue, VirtioDevice, Virtqueue } from '@vmv/device-trait';

export interface TestDeviceOptions {
  deviceId?: number;
  features?: bigint;
  queueMaxSizes?: number[];
  config?: ConfigSpace;
  validateFeatures?: (f: bigint) => boolean;
  sharedMemoryRegions?: { id: number; length: number | bigint }[];
  /** Handles a notification (default: records it only). */
  onNotify?: (device: TestDevice, index: number, data: number | undefined) => void;
  /** Gives the device the optional queueReset / queueEnable hooks (recording their calls). */
  queueHooks?: boolean;
  /** Gives the device the optional snapshot / restore pair, over a `{ note: string }` state. */
  snapshots?: boolean;
}

export const VERSION_1 = 1n << 32n;

/** A device that records every call. */
export class TestDevice implements VirtioDevice {
  readonly deviceId: number;
  readonly deviceFeatures: bigint;
  readonly queueMaxSizes: readonly number[];
  readonly configSize: number;
  readonly config: ConfigSpace;
  readonly sharedMemoryRegions?: readonly { id: number; length: number | bigint }[];
  ctx: ActivationContext | null = null;
  host: DeviceHost | null = null;
  activations = 0;
  resets = 0;
  readonly notifies: [number, number | undefined][] = [];
  readonly configWrites: [number, number[]][] = [];
  throwOn: 'activate' | 'notify' | 'reset' | 'readConfig' | 'writeConfig' | 'queueReset' | 'queueEnable' | 'restore' | null = null;
  /** Calls of the queue hooks, in order: ['reset', i] or ['enable', i, queue]. */
  readonly queueHookCalls: (['reset', number] | ['enable', number, Virtqueue])[] = [];
  /** Device-owned state that snapshot/restore carry. */
  note = 'initial';
  queueReset?: (index: number) => void;
  queueEnable?: (index: number, queue: Virtqueue) => void;
  snapshot?: () => unknown;
  restore?: (state: unknown) => void;
  private readonly validate: ((f: bigint) => boolean) | undefined;
  private readonly onNotify: TestDeviceOptions['onNotify'];

  constructor(o: TestDeviceOptions = {}) {
    this.deviceId = o.deviceId ?? DeviceId.ENTROPY;
    this.deviceFeatures = o.features ?? VERSION_1;
    this.queueMaxSizes = o.queueMaxSizes ?? [256];
    this.config = o.config ?? new ConfigSpace(0);
    this.configSize = this.config.size;
    this.validate = o.validateFeatures;
    this.onNotify = o.onNotify;
    if (o.sharedMemoryRegions) this.sharedMemoryRegions = o.sharedMemoryRegions;
    if (o.queueHooks) {
      this.queueReset = (index) => {
        this.queueHookCalls.push(['reset', index]);
        if (this.throwOn === 'queueReset') throw new Error('queueReset exploded');
      };
      this.queueEnable = (index, queue) => {
        this.queueHookCalls.push(['enable', index, queue]);
        if (this.throwOn === 'queueEnable') throw new Error('queueEnable exploded');
      };
    }
    if (o.snapshots) {
      this.snapshot = () => ({ note: this.note });
      this.restore = (state) => {
        if (this.throwOn === 'restore') throw new Error('restore exploded');
        const note = (state as { note?: unknown } | null)?.note;
        if (typeof note !== 'string') throw new TypeError('TestDevice.restore: note must be a string');
        this.note = note;
      };
    }
  }

  validateFeatures(f: bigint): boolean {
    return this.validate ? this.validate(f) : true;
  }
  attach(host: DeviceHost): void {
    this.host = host;
  }
  readConfig(offset: number, data: Uint8Array): void {
    if (this.throwOn === 'readConfig') throw new Error('readConfig exploded');
    this.config.read(offset, data);
  }
  writeConfig(offset: number, data: Uint8Array): void {
    if (this.throwOn === 'writeConfig') throw new Error('writeConfig exploded');
    this.configWrites.push([offset, [...data]]);
    this.config.write(offset, data);
  }
  activate(ctx: ActivationContext): void {
    if (this.throwOn === 'activate') throw new Error('activate refused');
    this.ctx = ctx;
    this.activations++;
  }
  queueNotify(index: number, data?: number): void {
    this.notifies.push([index, data]);
    if (this.throwOn === 'notify') throw new Error('queueNotify exploded');
    this.onNotify?.(this, index, data);
  }
  reset(): void {
    this.ctx = null;
    this.resets++;
    if (this.throwOn === 'reset') throw new Error('reset exploded');
  }
}

/**
 * A device that completes every chain of a queue by filling its writable part with a byte
 * pattern (the request's first readable byte, or 0xab) and echoing the readable bytes count.
 */
export function echoNotify(device: TestDevice, index: number): void {
  if (device.ctx) serveQueue(device.ctx, index, echo);
}

function echo(chain: DescriptorChain, served: ServedQueue): void {
  const r = chain.reader();
  const fillByte = r.remaining > 0 ? r.readU8() : 0xab;
  const w = chain.writer();
  w.fill(w.remaining, fillByte);
  served.complete(chain, w.written);
}

// Feature words Linux 6.1 accepted from QEMU 7.2 in the trace (DriverFeatures writes): the test
// devices offer exactly these, so every DriverFeatures write of the trace is a subset.
/** virtio-blk: SEG_MAX, GEOMETRY, BLK_SIZE, FLUSH, TOPOLOGY, CONFIG_WCE, DISCARD, WRITE_ZEROES + INDIRECT_DESC, EVENT_IDX, VERSION_1. */
export const BLK_FEATURES = VERSION_1 | 0x3000_6e54n;
/** virtio-rng: INDIRECT_DESC, EVENT_IDX, VERSION_1. */
export const RNG_FEATURES = VERSION_1 | 0x3000_0000n;
/** virtio-console: MULTIPORT + INDIRECT_DESC, EVENT_IDX, VERSION_1. */
export const CONSOLE_FEATURES = VERSION_1 | 0x3000_0002n;

/**
 * struct virtio_blk_config as QEMU 7.2 sizes it with DISCARD and WRITE_ZEROES offered: up to and
 * including write_zeroes_may_unmap (57 bytes).
 */
export function blkConfig(): ConfigSpace {
  const c = new ConfigSpace(57);
  c.setU64(0, 0x20000n); // capacity: 64 MiB in 512-byte sectors
  c.setU32(12, 1022); // seg_max (QEMU: queue size - 2)
  c.setU16(16, 0x2000); // geometry.cylinders
  c.setU8(18, 16); // heads
  c.setU8(19, 63); // sectors
  c.setU32(20, 512); // blk_size
  c.setU8(24, 0); // physical_block_exp
  c.setU8(25, 0); // alignment_offset
  c.setU16(26, 0); // min_io_size
  c.setU32(28, 0); // opt_io_size
  c.setU8(32, 1); // writeback
  c.allowWrite(32, 1);
  c.setU32(36, 0x3fffff); // max_discard_sectors
  c.setU32(40, 1); // max_discard_seg
  c.setU32(44, 1); // discard_sector_alignment
  c.setU32(48, 0x3fffff); // max_write_zeroes_sectors
  c.setU32(52, 1); // max_write_zeroes_seg
  c.setU8(56, 1); // write_zeroes_may_unmap
  return c;
}

/** struct virtio_console_config (12 bytes): cols, rows, max_nr_ports = 31 (64 queues), emerg_wr. */
export function consoleConfig(): ConfigSpace {
  const c = new ConfigSpace(12);
  c.setU16(0, 80);
  c.setU16(2, 25);
  c.setU32(4, 31);
  c.allowWrite(8, 4);
  return c;
}

/** The three devices of the trace, in probe order. QEMU's virtio-mmio reports QueueNumMax 1024 for every queue. */
export function traceDevices(): TestDevice[] {
  return [
    new TestDevice({ deviceId: DeviceId.BLOCK, features: BLK_FEATURES, queueMaxSizes: [1024], config: blkConfig() }),
    new TestDevice({ deviceId: DeviceId.ENTROPY, features: RNG_FEATURES, queueMaxSizes: [1024] }),
    new TestDevice({ deviceId: DeviceId.CONSOLE, features: CONSOLE_FEATURES, queueMaxSizes: new Array<number>(64).fill(1024), config: consoleConfig() }),
  ];
}
