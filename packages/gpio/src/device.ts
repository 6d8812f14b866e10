/**
 * {@link GpioDevice}: virtio-gpio (VIRTIO 1.2 §5.18, device ID 41) over a {@link GpioChip}, for
 * any transport. requestq (§5.18.6): every message answered at once, in ring order; a type, line,
 * value or buffer size the guest gets wrong is VIRTIO_GPIO_STATUS_ERR, never an exception.
 * eventq (§5.18.7, with VIRTIO_GPIO_F_IRQ): the driver's buffer pair for a line is held while the
 * line is unmasked and returned VALID when its interrupt fires, or INVALID when the interrupt is
 * disabled (or was never enabled). A corrupted ring or a buffer outside guest memory is
 * DEVICE_NEEDS_RESET.
 * @module
 */
import { ConfigSpace, DeviceId, Feature, featureBit, hasFeature, isGuestMemoryError, isQueueError, serveQueue } from '@vmv/device-trait';
import type { ActivationContext, ChainHandler, DescriptorChain, ServedQueue, VirtioDevice } from '@vmv/device-trait';
import { GpioFeature, GpioIrqStatus, GpioLayout, GpioMsg, GpioQueue, GpioStatus } from './constants.js';
import type { GpioChip, GpioIrqPort } from './chip.js';

/**
 * Options of {@link GpioDevice}.
 * @example `new GpioDevice({ chip: new GpioChip(8), irq: false })`
 */
export interface GpioDeviceOptions {
  /** The chip the guest sees. One device serves a chip at a time. */
  readonly chip: GpioChip;
  /** Offer VIRTIO_GPIO_F_IRQ (default true). */
  readonly irq?: boolean;
  /** Size of both queues (default 256; 1 to 32768). */
  readonly queueSize?: number;
}

/**
 * Counters of the guest's requests and buffers.
 * @example `if (device.stats.errors > 0) console.warn('the guest sent bad requests');`
 */
export interface GpioStats {
  /** requestq messages answered. */
  readonly requests: number;
  /** Of those, answered VIRTIO_GPIO_STATUS_ERR. */
  readonly errors: number;
  /** requestq chains with no writable byte, returned with used length 0. */
  readonly unanswerable: number;
  /** Interrupts delivered (eventq buffers returned VALID). */
  readonly interrupts: number;
  /** eventq buffers returned INVALID (interrupt disabled, never enabled, or the buffer malformed). */
  readonly invalidated: number;
}

const VALID_FEATURES = featureBit(Feature.VERSION_1) | featureBit(Feature.INDIRECT_DESC) | featureBit(Feature.EVENT_IDX) | featureBit(Feature.RING_PACKED);

/**
 * A virtio-gpio device.
 * @example
 * ```ts
 * const chip = new GpioChip(['button', 'led']);
 * const device = new GpioDevice({ chip }); // serve it: new VirtioMmioTransport(device, ...) or new VhostUserBackend(device)
 * ```
 */
export class GpioDevice implements VirtioDevice {
  readonly deviceId = DeviceId.GPIO;
  readonly deviceFeatures: bigint;
  readonly queueMaxSizes: readonly number[];
  readonly configSize = GpioLayout.CONFIG_SIZE;
  /** The chip. */
  readonly chip: GpioChip;
  private readonly config = new ConfigSpace(GpioLayout.CONFIG_SIZE);
  private ctx: ActivationContext | null = null;
  /** Per line: the eventq chain the driver posted (the line is unmasked), or null. */
  private readonly held: ({ chain: DescriptorChain; served: ServedQueue } | null)[];
  private counters = { requests: 0, errors: 0, unanswerable: 0, interrupts: 0, invalidated: 0 };
  private readonly port: GpioIrqPort = {
    fire: (line) => this.returnHeld(line, GpioIrqStatus.VALID),
    invalidate: (line) => void this.returnHeld(line, GpioIrqStatus.INVALID),
  };

  /**
   * @param options - the chip and sizes.
   * @throws RangeError for a queue size out of range or a chip another device serves.
   * @throws TypeError for options without a chip.
   */
  constructor(options: GpioDeviceOptions) {
    if (typeof options !== 'object' || options === null || typeof options.chip?.guestUnmasked !== 'function') throw new TypeError('GpioDevice: options.chip must be a GpioChip');
    const size = options.queueSize ?? 256;
    if (!Number.isInteger(size) || size < 1 || size > 32768) throw new RangeError(`GpioDevice: queueSize must be 1 to 32768, got ${size}`);
    this.queueMaxSizes = [size, size];
    this.chip = options.chip;
    this.deviceFeatures = VALID_FEATURES | (options.irq === false ? 0n : featureBit(GpioFeature.IRQ));
    this.held = new Array<null>(this.chip.ngpio).fill(null);
    this.config.setU16(GpioLayout.CONFIG_NGPIO, this.chip.ngpio);
    this.config.setU32(GpioLayout.CONFIG_NAMES_SIZE, this.chip.namesBlock.length);
    this.chip.attach(this.port);
  }

  /** The counters. @returns a snapshot. @example `device.stats.interrupts` */
  get stats(): GpioStats {
    return { ...this.counters };
  }

  readConfig(offset: number, data: Uint8Array): void {
    this.config.read(offset, data);
  }

  /** The configuration is read-only: writes are ignored. */
  writeConfig(): void {}

  activate(ctx: ActivationContext): void {
    this.ctx = ctx;
  }

  /** Forgets the activation and its held buffers; every line returns to its initial state (direction none, interrupt disabled). */
  reset(): void {
    this.ctx = null;
    this.held.fill(null);
    this.chip.guestReset();
  }

  queueNotify(index: number): void {
    if (this.ctx === null) return;
    if (index === GpioQueue.REQUESTQ) serveQueue(this.ctx, index, this.request);
    else if (index === GpioQueue.EVENTQ) serveQueue(this.ctx, index, this.event);
  }

  private readonly request: ChainHandler = (chain, served) => {
    let written = 0;
    try {
      written = this.answer(chain);
    } catch (e) {
      if (!isQueueError(e) && !isGuestMemoryError(e)) throw e;
      this.ctx?.needsReset(e);
    }
    served.complete(chain, written);
  };

  /** One requestq message: the bytes written into its response. */
  private answer(chain: DescriptorChain): number {
    const room = chain.writableBytes;
    if (room === 0) {
      this.counters.unanswerable++;
      return 0;
    }
    this.counters.requests++;
    const w = chain.writer();
    const fail = (): number => {
      this.counters.errors++;
      const n = Math.min(room, GpioLayout.RESPONSE_SIZE);
      w.writeU8(GpioStatus.ERR);
      if (n === 2) w.writeU8(0);
      return n;
    };
    if (chain.readableBytes !== GpioLayout.REQUEST_SIZE) return fail();
    const r = chain.reader();
    const type = r.readU16();
    const line = r.readU16();
    const value = r.readU32();
    const chip = this.chip;
    if (type === GpioMsg.GET_LINE_NAMES) {
      const names = chip.namesBlock;
      if (line !== 0 || value !== 0 || names.length === 0 || room < 1 + names.length) return fail();
      w.writeU8(GpioStatus.OK);
      w.write(names);
      return 1 + names.length;
    }
    if (line >= chip.ngpio || room < GpioLayout.RESPONSE_SIZE) return fail();
    let status: number = GpioStatus.OK;
    let out = 0;
    switch (type) {
      case GpioMsg.GET_DIRECTION:
        if (value !== 0) return fail();
        out = chip.guestGetDirection(line);
        break;
      case GpioMsg.GET_VALUE:
        if (value !== 0) return fail();
        out = chip.guestGetValue(line);
        break;
      case GpioMsg.SET_DIRECTION:
        status = chip.guestSetDirection(line, value);
        break;
      case GpioMsg.SET_VALUE:
        status = chip.guestSetValue(line, value);
        break;
      case GpioMsg.SET_IRQ_TYPE:
        // §5.18.6.6: only with VIRTIO_GPIO_F_IRQ negotiated.
        if (!hasFeature(this.ctx!.features, GpioFeature.IRQ)) return fail();
        status = chip.guestSetIrqType(line, value);
        break;
      default:
        return fail();
    }
    if (status !== GpioStatus.OK) return fail();
    w.writeU8(GpioStatus.OK);
    w.writeU8(out);
    return GpioLayout.RESPONSE_SIZE;
  }

  private readonly event: ChainHandler = (chain, served) => {
    try {
      const line = this.irqLine(chain);
      if (line < 0 || this.held[line] !== null) {
        // Malformed, for a line the chip does not have, or a second pair for a line (§5.18.7.1 forbids it).
        this.invalid(chain, served);
        return;
      }
      this.held[line] = { chain, served };
      if (!this.chip.guestUnmasked(line)) this.returnHeld(line, GpioIrqStatus.INVALID); // unmasked before enabled (§5.18.6.6)
    } catch (e) {
      if (!isQueueError(e) && !isGuestMemoryError(e)) throw e;
      this.ctx?.needsReset(e);
      served.complete(chain, 0);
    }
  };

  /** The line of an eventq chain, or -1 when the chain is not a 2-byte request and a 1-byte response. */
  private irqLine(chain: DescriptorChain): number {
    if (!hasFeature(this.ctx!.features, GpioFeature.IRQ)) return -1;
    if (chain.readableBytes !== GpioLayout.IRQ_REQUEST_SIZE || chain.writableBytes < GpioLayout.IRQ_RESPONSE_SIZE) return -1;
    const line = chain.reader().readU16();
    return line < this.chip.ngpio ? line : -1;
  }

  private invalid(chain: DescriptorChain, served: ServedQueue): void {
    this.counters.invalidated++;
    if (chain.writableBytes === 0) return served.complete(chain, 0);
    chain.writer().writeU8(GpioIrqStatus.INVALID);
    served.complete(chain, GpioLayout.IRQ_RESPONSE_SIZE);
  }

  /** Returns the held pair of `line` with `status`: false when none is held (the line is masked). */
  private returnHeld(line: number, status: number): boolean {
    const h = this.held[line];
    if (h === null || h === undefined) return false;
    this.held[line] = null;
    try {
      if (status === GpioIrqStatus.INVALID) {
        this.invalid(h.chain, h.served);
        return true;
      }
      h.chain.writer().writeU8(status);
    } catch (e) {
      if (!isQueueError(e) && !isGuestMemoryError(e)) throw e;
      this.ctx?.needsReset(e);
      h.served.complete(h.chain, 0);
      return false;
    }
    this.counters.interrupts++;
    h.served.complete(h.chain, GpioLayout.IRQ_RESPONSE_SIZE);
    return true;
  }
}
