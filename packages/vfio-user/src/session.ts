/**
 * The server side of one vfio-user connection (QEMU docs/interop/vfio-user.rst): VERSION first,
 * then DMA_MAP / DMA_UNMAP, DEVICE_GET_INFO, DEVICE_GET_REGION_INFO, DEVICE_GET_IRQ_INFO,
 * DEVICE_SET_IRQS, REGION_READ / REGION_WRITE and DEVICE_RESET, each validated and answered in
 * order (an error reply with the errno of the typed error; nothing for No_reply), every other
 * command answered ENOSYS (DEVICE_FEATURE: ENOTTY, as VFIO's ioctl). It sends DMA_READ /
 * DMA_WRITE for the device's accesses to windows without an fd and matches the client's replies.
 *
 * Platform work (mapping an fd, closing one, writing an eventfd, sending bytes) goes through a
 * {@link VfioUserHost}, so the state machine runs anywhere; `@vmv/vfio-user/node` supplies the
 * Linux host and the socket. Region callbacks are synchronous: the server never waits for a
 * message from the client while it handles one (QEMU waits for the reply with its lock held).
 *
 * @module
 */
import {
  DeviceInfoFlags,
  Errno,
  HeaderFlags,
  PCI_NUM_IRQS,
  PCI_NUM_REGIONS,
  PciRegion,
  RegionInfoFlags,
  VFIO_USER_HEADER_SIZE,
  VfioUserCommand,
  commandName,
} from './constants.js';
import {
  DeviceError,
  DisconnectedError,
  DmaTimeoutError,
  InvalidArgumentError,
  InvalidReplyError,
  InvalidStateError,
  MapFailedError,
  PartialMessageError,
  RequestRejectedError,
  UnsupportedCommandError,
  isVfioUserError,
  type VfioUserError,
} from './errors.js';
import { isReply, readHeader, validateCommandHeader, validateFrame, wantsNoReply, type VfioUserHeader } from './header.js';
import {
  decodeDeviceGetInfo,
  decodeDmaMap,
  decodeDmaReadReply,
  decodeDmaUnmap,
  decodeEmpty,
  decodeGetIrqInfo,
  decodeGetRegionInfo,
  decodeRegionAccess,
  decodeSetIrqs,
  encodeDmaRead,
  encodeDmaWrite,
  encodeReply,
  fields,
} from './codec.js';
import { DmaAccess, DmaTable, type VfioUserMapping } from './dma.js';
import { IrqTable, MAX_IRQ_COUNTS } from './irqs.js';
import { decodeVersion, encodeVersionReply, type ClientVersion } from './version.js';
import type { VfioUserDevice, VfioUserDma, VfioUserIrqs } from './device.js';

/**
 * What a session needs from its platform.
 * @example
 * ```ts
 * const host: VfioUserHost = { map: (fd, off, size) => mapFd(fd, off, size), close: closeFd, signal: (fd) => eventfdWrite(fd), send: (b) => stream.write(b) };
 * ```
 */
export interface VfioUserHost {
  /**
   * Maps `size` bytes of `fd` from `offset`, shared and writable. The fd stays the session's.
   * @throws VfioUser.MapFailedError (or anything: it becomes one, EFAULT)
   */
  map(fd: number, offset: bigint, size: bigint): VfioUserMapping;
  /** Closes an fd the client sent. */
  close(fd: number): void;
  /** Adds 1 to an eventfd the client sent; throws when it cannot. */
  signal(fd: number): void;
  /** Sends one whole message. */
  send(message: Uint8Array): void;
}

/**
 * What a session reports (for logs and tests).
 * @example `onEvent: (e) => { if (e.type === 'command-failed') log(e.error.message); }`
 */
export type VfioUserEvent =
  | {
      /** VERSION was negotiated. */
      readonly type: 'negotiated';
      /** What the client proposed. */
      readonly client: ClientVersion;
    }
  | {
      /** A command was refused. */
      readonly type: 'command-failed';
      /** Its name. */
      readonly command: string;
      /** Why. */
      readonly error: VfioUserError;
      /** Whether an error reply went out (not for No_reply). */
      readonly replied: boolean;
    }
  | {
      /** A DMA window was added. */
      readonly type: 'dma-mapped';
      /** Its DMA address. */
      readonly address: bigint;
      /** Its size. */
      readonly size: bigint;
      /** Whether it came with an fd (mapped) or not (DMA messages). */
      readonly fd: boolean;
    }
  | {
      /** DMA windows were removed. */
      readonly type: 'dma-unmapped';
      /** How many. */
      readonly windows: number;
    }
  | {
      /** The device was reset (DEVICE_RESET). */
      readonly type: 'reset';
    }
  | {
      /** A reply that answers no DMA request was dropped. */
      readonly type: 'stray-reply';
      /** What was wrong with it. */
      readonly error: VfioUserError;
    }
  | {
      /** Writing an eventfd the client gave failed (not an eventfd): the interrupt was not sent. */
      readonly type: 'signal-failed';
      /** The fd. */
      readonly fd: number;
      /** The host's error. */
      readonly error: unknown;
    };

/**
 * Options of a {@link VfioUserSession}.
 * @example `{ maxDataXferSize: 1 << 20, maxMsgFds: 16, dmaTimeoutMs: 5000 }`
 */
export interface VfioUserSessionOptions {
  /** Most data bytes per REGION_READ / REGION_WRITE / DMA message (>= 4096; default 1 MiB, at most 64 MiB). */
  readonly maxDataXferSize?: number;
  /** Most fds per received message (1 to 16, QEMU 11.1's ceiling; default 16). */
  readonly maxMsgFds?: number;
  /** Most DMA windows at once (default 1024). */
  readonly maxDmaMaps?: number;
  /** How long a DMA_READ / DMA_WRITE waits for the client's reply (ms, default 5000 as QEMU's x-msg-timeout). */
  readonly dmaTimeoutMs?: number;
  /** Reports what happens. */
  readonly onEvent?: (event: VfioUserEvent) => void;
}

interface Pending {
  readonly command: number;
  readonly address: bigint;
  readonly count: number;
  readonly resolve: (data: Uint8Array) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

function limit(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new RangeError(`VfioUserSession: ${name} must be an integer in [${min}, ${max}], got ${value}`);
  return value;
}

/**
 * Region sizes and flags of a device, checked (embedder misuse throws). Not exported from the package.
 * @internal
 */
export function regionTable(device: VfioUserDevice): { sizes: number[]; flags: number[] } {
  if (typeof device !== 'object' || device === null) throw new TypeError('VfioUserSession: device must be an object');
  for (const m of ['read', 'write', 'reset'] as const) if (typeof device[m] !== 'function') throw new TypeError(`VfioUserSession: device.${m} must be a function`);
  if (device.configSize !== 256 && device.configSize !== 4096) throw new RangeError(`VfioUserSession: configSize must be 256 or 4096, got ${device.configSize}`);
  if (!Array.isArray(device.bars) || device.bars.length > 7) throw new RangeError('VfioUserSession: bars must be an array of at most 7 entries (BAR0-5, ROM)');
  if (!Array.isArray(device.irqCounts) || device.irqCounts.length > PCI_NUM_IRQS) throw new RangeError('VfioUserSession: irqCounts must be an array of at most 5 counts');
  const sizes = new Array<number>(PCI_NUM_REGIONS).fill(0);
  const flags = new Array<number>(PCI_NUM_REGIONS).fill(0);
  device.bars.forEach((bar, i) => {
    if (bar === null || bar === undefined || bar.size === 0) return;
    if (!Number.isSafeInteger(bar.size) || bar.size < 0 || (bar.size & (bar.size - 1)) !== 0 || bar.size > 2 ** 40) {
      throw new RangeError(`VfioUserSession: bars[${i}].size must be 0 or a power of two up to 2^40, got ${bar.size}`);
    }
    sizes[i] = bar.size;
    flags[i] = (bar.readable === false ? 0 : RegionInfoFlags.READ) | (bar.writable === false || i === PciRegion.ROM ? 0 : RegionInfoFlags.WRITE);
  });
  sizes[PciRegion.CONFIG] = device.configSize;
  flags[PciRegion.CONFIG] = RegionInfoFlags.READ | RegionInfoFlags.WRITE;
  return { sizes, flags };
}

/**
 * IRQ vector counts of a device, checked. Not exported from the package.
 * @internal
 */
export function irqCounts(device: VfioUserDevice): number[] {
  return Array.from({ length: PCI_NUM_IRQS }, (_, i) => {
    const n = device.irqCounts[i] ?? 0;
    if (!Number.isSafeInteger(n) || n < 0 || n > MAX_IRQ_COUNTS[i]!) throw new RangeError(`VfioUserSession: irqCounts[${i}] must be an integer in [0, ${MAX_IRQ_COUNTS[i]}], got ${n}`);
    return n;
  });
}

/**
 * One client connection of a vfio-user server.
 * @example
 * ```ts
 * const session = new VfioUserSession(device, host);
 * channel.onMessage = (message, fds) => session.handleMessage(message, fds);
 * channel.onClose = () => session.close();
 * ```
 */
export class VfioUserSession {
  /** The largest message this session accepts: REGION_WRITE or a DMA_READ reply of the transfer limit. */
  readonly maxMessageSize: number;
  /** Most fds per received message (announced as max_msg_fds). */
  readonly maxMsgFds: number;
  private readonly maxDataXferSize: number;
  private readonly maxDmaMaps: number;
  private readonly dmaTimeoutMs: number;
  private readonly regions: { sizes: number[]; flags: number[] };
  private readonly dmaTable: DmaTable;
  private readonly irqTable: IrqTable;
  private readonly access: DmaAccess;
  private client: ClientVersion | null = null;
  private closed = false;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  /**
   * A session for one client connection.
   * @param device - the PCI function served (attached now, detached at {@link VfioUserSession.close})
   * @param host - the platform
   * @param options - limits and events
   * @throws TypeError / RangeError for a malformed device or option (embedder misuse)
   */
  constructor(
    private readonly device: VfioUserDevice,
    private readonly host: VfioUserHost,
    private readonly options: VfioUserSessionOptions = {},
  ) {
    this.regions = regionTable(device);
    const counts = irqCounts(device);
    this.maxDataXferSize = limit('maxDataXferSize', options.maxDataXferSize, 1 << 20, 4096, 64 << 20);
    this.maxMsgFds = limit('maxMsgFds', options.maxMsgFds, 16, 1, 16);
    this.maxDmaMaps = limit('maxDmaMaps', options.maxDmaMaps, 1024, 1, 65535);
    this.dmaTimeoutMs = limit('dmaTimeoutMs', options.dmaTimeoutMs, 5000, 1, 2 ** 31 - 1);
    this.maxMessageSize = 32 + this.maxDataXferSize;
    this.dmaTable = new DmaTable(this.maxDmaMaps);
    this.irqTable = new IrqTable(counts, (fd) => this.signal(fd), (fd) => this.closeFd(fd));
    const maxTransfer = (): number => Math.min(this.maxDataXferSize, this.client?.maxDataXferSize ?? this.maxDataXferSize);
    const closed = (): boolean => this.closed;
    this.access = new DmaAccess(this.dmaTable, {
      get maxTransfer() {
        return maxTransfer();
      },
      get closed() {
        return closed();
      },
      read: (address, count) => this.request(VfioUserCommand.DMA_READ, address, count, null),
      write: (address, data) => this.request(VfioUserCommand.DMA_WRITE, address, data.byteLength, data).then(() => undefined),
    });
    device.attach?.({ dma: this.access, irqs: this.irqTable });
  }

  /** The client's memory, as the device sees it. */
  get dma(): VfioUserDma {
    return this.access;
  }

  /** The interrupt path, as the device sees it. */
  get irqs(): VfioUserIrqs {
    return this.irqTable;
  }

  /** Whether VERSION has been negotiated. */
  get negotiated(): boolean {
    return this.client !== null;
  }

  /** Whether {@link VfioUserSession.close} has run. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Handles one received message (header and payload, exactly `size` bytes) and the fds that came
   * with it, which the session owns from now on. A command is answered through the host (unless
   * No_reply); a reply settles the DMA request it answers.
   * @param message - the whole message
   * @param fds - fds received with it
   * @returns a promise when the answer waits for the device (DEVICE_RESET): handle nothing else until it settles
   * @throws VfioUser.InvalidHeaderError, OversizedMessageError, PartialMessageError: the framing is lost, end the connection
   */
  handleMessage(message: Uint8Array, fds: readonly number[]): Promise<void> | undefined {
    let header: VfioUserHeader;
    try {
      header = readHeader(message);
      validateFrame(header, this.maxMessageSize);
      if (message.byteLength !== header.size) throw new PartialMessageError({ size: message.byteLength, expected: header.size });
    } catch (e) {
      for (const fd of fds) this.closeFd(fd);
      throw e;
    }
    const body = message.subarray(VFIO_USER_HEADER_SIZE);
    if (this.closed) {
      for (const fd of fds) this.closeFd(fd);
      return undefined;
    }
    if (isReply(header)) {
      for (const fd of fds) this.closeFd(fd);
      this.settle(header, body);
      return undefined;
    }
    const kept = new Set<number>();
    const finish = (payload: Uint8Array | null, error: unknown): void => {
      for (const fd of fds) if (!kept.has(fd)) this.closeFd(fd);
      if (error !== null) this.fail(header, error);
      else if (!wantsNoReply(header)) this.host.send(encodeReply(header, payload!));
    };
    let result: Uint8Array | Promise<Uint8Array>;
    try {
      validateCommandHeader(header);
      result = this.dispatch(header, body, fds, kept);
    } catch (e) {
      finish(null, e);
      return undefined;
    }
    if (result instanceof Uint8Array) {
      finish(result, null);
      return undefined;
    }
    return result.then(
      (payload) => finish(payload, null),
      (e: unknown) => finish(null, e),
    );
  }

  /**
   * Ends the session: pending DMA requests fail with `VfioUser.DisconnectedError`, every window
   * is unmapped, every eventfd closed, and the device detached. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new DisconnectedError({ command: commandName(p.command), address: p.address }));
    }
    this.pending.clear();
    this.dmaTable.remove(0n, 0n, true);
    this.irqTable.clear();
    this.device.detach?.();
  }

  private dispatch(h: VfioUserHeader, body: Uint8Array, fds: readonly number[], kept: Set<number>): Uint8Array | Promise<Uint8Array> {
    const C = VfioUserCommand;
    if (h.command === C.VERSION) {
      if (this.client !== null) throw new InvalidStateError('VERSION was already negotiated');
      const client = decodeVersion(body, fds);
      const reply = encodeVersionReply(client, { maxMsgFds: this.maxMsgFds, maxDataXferSize: this.maxDataXferSize, maxDmaMaps: this.maxDmaMaps });
      this.client = client;
      this.emit({ type: 'negotiated', client });
      return reply;
    }
    if (this.client === null) throw new InvalidStateError('VERSION must come first', { command: commandName(h.command) });
    if (fds.length > this.maxMsgFds) throw new InvalidArgumentError('more fds than max_msg_fds', { count: fds.length, max: this.maxMsgFds });
    switch (h.command) {
      case C.DMA_MAP:
        return this.dmaMap(body, fds);
      case C.DMA_UNMAP: {
        const req = decodeDmaUnmap(body, fds);
        const windows = this.dmaTable.remove(req.address, req.size, req.flags !== 0);
        this.emit({ type: 'dma-unmapped', windows });
        return body.slice();
      }
      case C.DEVICE_GET_INFO:
        decodeDeviceGetInfo(body, fds);
        return fields([4, 16], [4, DeviceInfoFlags.PCI | DeviceInfoFlags.RESET], [4, PCI_NUM_REGIONS], [4, PCI_NUM_IRQS]);
      case C.DEVICE_GET_REGION_INFO: {
        const { index } = decodeGetRegionInfo(body, fds);
        if (index >= PCI_NUM_REGIONS) throw new InvalidArgumentError('no such region', { index });
        return fields([4, 32], [4, this.regions.flags[index]!], [4, index], [4, 0], [8, this.regions.sizes[index]!], [8, BigInt(index) << 40n]);
      }
      case C.DEVICE_GET_IRQ_INFO: {
        const index = decodeGetIrqInfo(body, fds);
        if (index >= PCI_NUM_IRQS) throw new InvalidArgumentError('no such IRQ index', { index });
        return fields([4, 16], [4, IrqTable.infoFlags(index)], [4, index], [4, this.irqCounts(index)]);
      }
      case C.DEVICE_SET_IRQS: {
        const req = decodeSetIrqs(body, fds);
        this.irqTable.set(req);
        for (const fd of req.fds) kept.add(fd);
        return new Uint8Array(0);
      }
      case C.REGION_READ:
      case C.REGION_WRITE:
        return this.regionAccess(h.command === C.REGION_WRITE, body, fds);
      case C.DEVICE_RESET:
        decodeEmpty(h.command, body, fds);
        return this.reset();
      case C.DEVICE_FEATURE:
        throw new UnsupportedCommandError(h.command, Errno.ENOTTY);
      default:
        throw new UnsupportedCommandError(h.command);
    }
  }

  private irqCounts(index: number): number {
    return this.device.irqCounts[index] ?? 0;
  }

  private dmaMap(body: Uint8Array, fds: readonly number[]): Uint8Array {
    const req = decodeDmaMap(body, fds);
    this.dmaTable.check(req);
    let mapping: VfioUserMapping | null = null;
    if (req.fd !== null) {
      try {
        mapping = this.host.map(req.fd, req.offset, req.size);
      } catch (e) {
        if (isVfioUserError(e, 'VfioUser.MapFailedError')) throw e;
        throw new MapFailedError({ address: req.address, size: req.size, offset: req.offset }, Errno.EFAULT, e);
      }
    }
    try {
      this.dmaTable.add(req, mapping);
    } catch (e) {
      mapping?.release();
      throw e;
    }
    this.emit({ type: 'dma-mapped', address: req.address, size: req.size, fd: req.fd !== null });
    return new Uint8Array(0);
  }

  private regionAccess(write: boolean, body: Uint8Array, fds: readonly number[]): Uint8Array {
    const a = decodeRegionAccess(body, fds, write);
    const facts = { region: a.region, offset: a.offset, count: a.count };
    if (a.region >= PCI_NUM_REGIONS) throw new InvalidArgumentError('no such region', facts);
    if (a.count > this.maxDataXferSize) throw new InvalidArgumentError('count above max_data_xfer_size', { ...facts, max: this.maxDataXferSize }, Errno.E2BIG);
    const size = this.regions.sizes[a.region]!;
    if (a.offset + BigInt(a.count) > BigInt(size)) throw new InvalidArgumentError('access outside the region', { ...facts, size });
    const need = write ? RegionInfoFlags.WRITE : RegionInfoFlags.READ;
    if ((this.regions.flags[a.region]! & need) === 0) throw new InvalidArgumentError(write ? 'region is not writable' : 'region is not readable', facts);
    const offset = Number(a.offset);
    const head = fields([8, a.offset], [4, a.region], [4, a.count]);
    if (a.count === 0) return head;
    try {
      if (write) {
        this.device.write(a.region, offset, a.data!);
        return head;
      }
      const out = new Uint8Array(16 + a.count);
      out.set(head);
      this.device.read(a.region, offset, out.subarray(16));
      return out;
    } catch (e) {
      throw new DeviceError({ command: write ? 'REGION_WRITE' : 'REGION_READ', ...facts }, e);
    }
  }

  private async reset(): Promise<Uint8Array> {
    try {
      await this.device.reset();
    } catch (e) {
      throw new DeviceError({ command: 'DEVICE_RESET' }, e);
    }
    this.irqTable.reset();
    this.emit({ type: 'reset' });
    return new Uint8Array(0);
  }

  /** Sends a DMA_READ / DMA_WRITE and waits for its reply. */
  private request(command: number, address: bigint, count: number, data: Uint8Array | null): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new DisconnectedError({ command: commandName(command), address }));
    let id = this.nextId;
    while (this.pending.has(id)) id = (id + 1) & 0xffff;
    this.nextId = (id + 1) & 0xffff;
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new DmaTimeoutError({ command: commandName(command), address, ms: this.dmaTimeoutMs }));
      }, this.dmaTimeoutMs);
      (timer as { unref?: () => void }).unref?.();
      this.pending.set(id, { command, address, count, resolve, reject, timer });
      this.host.send(data === null ? encodeDmaRead(id, address, count) : encodeDmaWrite(id, address, data));
    });
  }

  private settle(h: VfioUserHeader, body: Uint8Array): void {
    const p = this.pending.get(h.id);
    if (p === undefined || p.command !== h.command) {
      this.emit({ type: 'stray-reply', error: new InvalidReplyError('no request with this id and command', { id: h.id, command: commandName(h.command) }) });
      return;
    }
    this.pending.delete(h.id);
    clearTimeout(p.timer);
    const facts = { command: commandName(p.command), address: p.address, count: p.count };
    if ((h.flags & HeaderFlags.ERROR) !== 0) {
      p.reject(new RequestRejectedError(facts, h.error));
      return;
    }
    try {
      p.resolve(p.command === VfioUserCommand.DMA_READ ? decodeDmaReadReply(body, p.address, p.count) : new Uint8Array(0));
    } catch (e) {
      p.reject(e);
    }
  }

  private fail(h: VfioUserHeader, error: unknown): void {
    const replied = !wantsNoReply(h);
    const e: VfioUserError = isVfioUserError(error) ? error : new DeviceError({ command: commandName(h.command) }, error);
    if (replied) this.host.send(encodeReply(h, new Uint8Array(0), e.errno));
    this.emit({ type: 'command-failed', command: commandName(h.command), error: e, replied });
  }

  private signal(fd: number): boolean {
    try {
      this.host.signal(fd);
      return true;
    } catch (error) {
      this.emit({ type: 'signal-failed', fd, error });
      return false;
    }
  }

  private closeFd(fd: number): void {
    try {
      this.host.close(fd);
    } catch {
      // already closed: nothing to release
    }
  }

  private emit(event: VfioUserEvent): void {
    this.options.onEvent?.(event);
  }
}

