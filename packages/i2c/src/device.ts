/**
 * {@link I2cDevice}: virtio-i2c (VIRTIO 1.2 §5.16, device ID 34) over an {@link I2cBus}, for any
 * transport. Each request is one segment: `virtio_i2c_out_hdr` (addr, flags), the data (written
 * by the driver, or read into a device-writable buffer when VIRTIO_I2C_FLAGS_M_RD is set; none for
 * a zero-length request), and the `virtio_i2c_in_hdr` status byte last. Requests chained with
 * VIRTIO_I2C_FLAGS_FAIL_NEXT run as one transaction (repeated START, one STOP); the first that
 * fails (malformed, no target, a NACK) and the rest of its group are VIRTIO_I2C_MSG_ERR, earlier
 * groups and later ones are not affected. A corrupted ring or a buffer outside guest memory is
 * DEVICE_NEEDS_RESET.
 * @module
 */
import { DeviceId, Feature, featureBit, hasFeature, isGuestMemoryError, isQueueError, serveQueue } from '@vmv/device-trait';
import type { ActivationContext, ChainHandler, DescriptorChain, ServedQueue, VirtioDevice } from '@vmv/device-trait';
import { decodeAddress } from './address.js';
import type { I2cBus, I2cSegment } from './bus.js';
import { I2cFeature, I2cFlags, I2cLayout, I2cQueue, I2cStatus } from './constants.js';

/**
 * Options of {@link I2cDevice}.
 * @example `new I2cDevice({ bus, queueSize: 128 })`
 */
export interface I2cDeviceOptions {
  /** The bus the guest's adapter drives. */
  readonly bus: I2cBus;
  /** Size of the request queue (default 256; 1 to 32768). */
  readonly queueSize?: number;
}

/**
 * Counters of the guest's requests.
 * @example `device.stats.transactions`
 */
export interface I2cStats {
  /** Requests answered. */
  readonly requests: number;
  /** Of those, answered VIRTIO_I2C_MSG_ERR. */
  readonly errors: number;
  /** Of those, malformed (layout, flags, address or length the spec does not allow). */
  readonly malformed: number;
  /** Transactions run on the bus (FAIL_NEXT groups). */
  readonly transactions: number;
  /** Chains without a writable byte for the status, returned with used length 0 (their group fails). */
  readonly unanswerable: number;
}

/** A request of the group being collected. */
interface Request {
  readonly chain: DescriptorChain;
  readonly served: ServedQueue;
  /** The segment, or null when the request is malformed. */
  readonly segment: I2cSegment | null;
}

const RESERVED_FLAGS = ~(I2cFlags.FAIL_NEXT | I2cFlags.M_RD) >>> 0;

/**
 * A virtio-i2c adapter.
 * @example
 * ```ts
 * const bus = new I2cBus();
 * bus.attach(0x50, new Eeprom('24c02'));
 * const device = new I2cDevice({ bus }); // serve it: new VirtioMmioTransport(device, ...) or new VhostUserBackend(device)
 * ```
 */
export class I2cDevice implements VirtioDevice {
  readonly deviceId = DeviceId.I2C_ADAPTER;
  readonly deviceFeatures = featureBit(Feature.VERSION_1) | featureBit(Feature.INDIRECT_DESC) | featureBit(Feature.EVENT_IDX) | featureBit(Feature.RING_PACKED) | featureBit(I2cFeature.ZERO_LENGTH_REQUEST);
  readonly queueMaxSizes: readonly number[];
  /** No configuration space (§5.16.4). */
  readonly configSize = 0;
  /** The bus. */
  readonly bus: I2cBus;
  private ctx: ActivationContext | null = null;
  private group: Request[] = [];
  private groupBytes = 0;
  private counters = { requests: 0, errors: 0, malformed: 0, transactions: 0, unanswerable: 0 };

  /**
   * @param options - the bus and queue size.
   * @throws TypeError for options without a bus.
   * @throws RangeError for a queue size out of range.
   */
  constructor(options: I2cDeviceOptions) {
    if (typeof options !== 'object' || options === null || typeof options.bus?.transfer !== 'function') throw new TypeError('I2cDevice: options.bus must be an I2cBus');
    const size = options.queueSize ?? 256;
    if (!Number.isInteger(size) || size < 1 || size > 32768) throw new RangeError(`I2cDevice: queueSize must be 1 to 32768, got ${size}`);
    this.queueMaxSizes = [size];
    this.bus = options.bus;
  }

  /** The counters. @returns a snapshot. @example `device.stats.errors` */
  get stats(): I2cStats {
    return { ...this.counters };
  }

  readConfig(_offset: number, data: Uint8Array): void {
    data.fill(0);
  }

  writeConfig(): void {}

  /** §5.16.3.2: a driver that does not accept VIRTIO_I2C_F_ZERO_LENGTH_REQUEST is refused. */
  validateFeatures(driverFeatures: bigint): boolean {
    return hasFeature(driverFeatures, I2cFeature.ZERO_LENGTH_REQUEST);
  }

  activate(ctx: ActivationContext): void {
    this.ctx = ctx;
  }

  reset(): void {
    this.ctx = null;
    this.group = [];
    this.groupBytes = 0;
  }

  queueNotify(index: number): void {
    const ctx = this.ctx;
    if (ctx === null || index !== I2cQueue.REQUESTQ) return;
    serveQueue(ctx, index, this.collect);
    // A group still open when the ring is empty runs as it stands: Linux kicks a partly queued
    // transfer (virtio_i2c_xfer when the ring filled up) and waits for what it queued.
    if (this.ctx === ctx && this.group.length > 0) this.run();
  }

  private readonly collect: ChainHandler = (chain, served) => {
    let parsed: [I2cSegment | null, number];
    try {
      parsed = this.parse(chain);
    } catch (e) {
      if (!isQueueError(e) && !isGuestMemoryError(e)) throw e;
      this.ctx?.needsReset(e);
      served.complete(chain, 0);
      return;
    }
    const [segment, flags] = parsed;
    this.group.push({ chain, served, segment });
    if ((flags & I2cFlags.FAIL_NEXT) === 0) this.run();
  };

  /** A request's segment (null: malformed) and its flags. */
  private parse(chain: DescriptorChain): [I2cSegment | null, number] {
    const readable = chain.readableBytes;
    const writable = chain.writableBytes;
    if (readable < I2cLayout.OUT_HDR_SIZE) return [null, 0];
    const r = chain.reader();
    const addr = r.readU16();
    r.skip(2); // padding
    const flags = r.readU32();
    const address = decodeAddress(addr);
    if (address === null || (flags & RESERVED_FLAGS) !== 0 || writable < I2cLayout.IN_HDR_SIZE) return [null, flags];
    const read = (flags & I2cFlags.M_RD) !== 0;
    // A read has no driver data after the header; a write has no device-writable byte but the status.
    const length = read ? writable - I2cLayout.IN_HDR_SIZE : readable - I2cLayout.OUT_HDR_SIZE;
    if ((read ? readable - I2cLayout.OUT_HDR_SIZE : writable - I2cLayout.IN_HDR_SIZE) !== 0 || length > I2cLayout.MAX_SEGMENT) return [null, flags];
    // A group holds its data until it runs: bounded, so a guest cannot make the device hold the
    // whole ring's worth of copies (descriptors may all point at the same guest bytes).
    if (this.groupBytes + length > I2cLayout.MAX_TRANSACTION) return [null, flags];
    this.groupBytes += length;
    const data = read ? new Uint8Array(length) : r.readBytes(length);
    return [{ address: address.address, tenBit: address.tenBit, read, data }, flags];
  }

  /** Runs the collected group as one transaction and answers each of its requests. */
  private run(): void {
    const group = this.group;
    this.group = [];
    this.groupBytes = 0;
    let valid = 0;
    while (valid < group.length && group[valid]!.segment !== null) valid++;
    let done = 0;
    if (valid > 0) {
      this.counters.transactions++;
      done = this.bus.transfer(group.slice(0, valid).map((q) => q.segment!));
    }
    for (let i = 0; i < group.length; i++) {
      const q = group[i]!;
      if (q.segment === null) this.counters.malformed++;
      this.answer(q, i < done ? I2cStatus.OK : I2cStatus.ERR);
    }
  }

  /** Writes a request's read data (zeros when it failed) and status; completes it. */
  private answer(q: Request, status: number): void {
    const { chain, served } = q;
    let written = 0;
    try {
      const room = chain.writableBytes;
      if (room === 0) {
        this.counters.unanswerable++;
      } else {
        this.counters.requests++;
        if (status !== I2cStatus.OK) this.counters.errors++;
        const w = chain.writer();
        if (status === I2cStatus.OK && q.segment?.read === true) w.write(q.segment.data);
        else w.fill(room - I2cLayout.IN_HDR_SIZE, 0);
        w.writeU8(status);
        written = room;
      }
    } catch (e) {
      if (!isQueueError(e) && !isGuestMemoryError(e)) throw e;
      this.ctx?.needsReset(e);
      written = 0;
    }
    served.complete(chain, written);
  }
}
