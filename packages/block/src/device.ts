/**
 * The virtio-blk device (VIRTIO 1.2 §5.2), independent of any transport: feature bits (§5.2.3),
 * the configuration space (§5.2.4) with the driver-writable cache mode (§5.2.5), request
 * processing on one or more request queues (§5.2.6) against a pluggable {@link BlockBackend},
 * capacity changes with a configuration-change notification (§5.2.6.2), and per-queue reset
 * (§2.6.1): a queue the driver takes back is dropped at once, with its requests in flight.
 * @module
 */
import { ConfigSpace, DeviceId, Feature, InFlightBudget, featureBit, hasFeature } from '@vmv/device-trait';
import type { ActivationContext, DeviceHost, VirtioDevice, Virtqueue } from '@vmv/device-trait';
import type { BlockBackend } from './backend.js';
import { encodeBlockConfig } from './config.js';
import { BLOCK_CONFIG_SIZE, BlockConfigOffset, BlockFeature, SECTOR_SIZE } from './constants.js';
import { QueueWorker } from './engine.js';
import type { BlockStats, EngineHost, SegmentLimits } from './engine.js';
import { InvalidSnapshotError } from './errors.js';
import { encodeId, isValidLifetime } from './wire.js';
import type { BlockLifetime } from './wire.js';

export type { BlockStats } from './engine.js';

/**
 * Limits of DISCARD or SECURE_ERASE, advertised in the configuration space and enforced.
 * @example
 * ```ts
 * new BlockDevice({ backend, discard: { maxSectors: 1 << 20, maxSegments: 64, alignment: 8 } });
 * ```
 */
export interface SegmentCommandOptions {
  /** Largest segment in sectors (1..2^32-1). Default 4194303 (2 GiB - 512). */
  maxSectors?: number;
  /** Most segments per request (1..65536). Default 32. */
  maxSegments?: number;
  /**
   * Segments must start on a multiple of this many sectors (1..2^32-1), else IOERR. Default
   * `blkSize / 512`, else 1 (the logical block, which Linux always respects). Linux treats a larger
   * value only as a split granularity and may start a discard on any logical block.
   */
  alignment?: number;
}

/**
 * Limits of WRITE_ZEROES, advertised and enforced.
 * @example
 * ```ts
 * new BlockDevice({ backend, writeZeroes: { maxSectors: 65536, maxSegments: 1 } });
 * ```
 */
export interface WriteZeroesOptions {
  /** Largest segment in sectors (1..2^32-1). Default 4194303. */
  maxSectors?: number;
  /** Most segments per request (1..65536). Default 32. */
  maxSegments?: number;
  /**
   * Advertise `write_zeroes_may_unmap`. Default: the backend's `canUnmap`, followed at run time:
   * when it turns false (hole punching turned out unsupported), the field goes to 0 with a
   * configuration change notification. A value given here is kept as it is.
   */
  mayUnmap?: boolean;
}

/**
 * What a backend error hook receives besides the error.
 * @example
 * ```ts
 * onBackendError: (e, info) => log.warn({ err: e, ...info }, 'block I/O failed')
 * ```
 */
export interface BackendErrorInfo {
  /** The request type (see {@link RequestType}). */
  readonly type: number;
  /** The request's sector (Infinity when above 2^53). */
  readonly sector: number;
}

/**
 * Options of a {@link BlockDevice}. Everything but `backend` has a default.
 * @example
 * ```ts
 * const opts: BlockDeviceOptions = { backend, serial: 'vmv0', numQueues: 2, blkSize: 4096 };
 * ```
 */
export interface BlockDeviceOptions {
  /** The storage. Its `size` must be a multiple of 512. */
  backend: BlockBackend;
  /** Offer VIRTIO_BLK_F_RO and refuse writes. Default: the backend's `readOnly`. */
  readOnly?: boolean;
  /** The GET_ID answer: printable ASCII (or bytes), at most 20. Without it GET_ID answers UNSUPP. */
  serial?: string | Uint8Array;
  /** Number of request queues (1..256); more than 1 offers VIRTIO_BLK_F_MQ. Default 1. */
  numQueues?: number;
  /** Maximum size of each queue, a power of two in 2..32768. Default 256. */
  queueSize?: number;
  /**
   * Requests in flight per queue (1..queueSize). Default min(64, queueSize). Requests of a reset
   * activation still running in the backend count against it until they settle.
   */
  maxInflight?: number;
  /**
   * Let the backend read straight into the guest's buffers (no copy). Default false: a read goes
   * into a buffer of the device and is copied into the guest's at completion, unless the device or
   * that queue was reset meanwhile, so no read lands in guest memory after a reset (VIRTIO 1.2
   * §2.4.1; virtio-mmio's Status reads 0 at once and Linux reuses the pages). Set it when the
   * backend copies anyway (vhost-user-blk's session-safe backend) or when the embedder awaits
   * {@link BlockDevice.drain} before the guest can touch that memory again.
   */
  directReads?: boolean;
  /**
   * Logical block size in bytes (a power of two, 512..65536): offers VIRTIO_BLK_F_BLK_SIZE. Linux
   * checks it with blk_validate_block_size(), and kernels without large block size support refuse
   * a value above the page size (4096 on x86): the disk then fails to probe.
   */
  blkSize?: number;
  /** Largest data segment in bytes (4096..2^32-1): offers VIRTIO_BLK_F_SIZE_MAX, enforced. */
  sizeMax?: number;
  /** Most data segments per request: offers VIRTIO_BLK_F_SEG_MAX, enforced. 0 to not offer. Default queueSize - 2. */
  segMax?: number;
  /** Offers VIRTIO_BLK_F_GEOMETRY. */
  geometry?: {
    /** Cylinders (le16). */
    cylinders: number;
    /** Heads per cylinder (u8). */
    heads: number;
    /** Sectors per track (u8). */
    sectors: number;
  };
  /** Offers VIRTIO_BLK_F_TOPOLOGY (sizes in logical blocks). */
  topology?: {
    /** log2 of the number of logical blocks per physical block. */
    physicalBlockExp: number;
    /** Offset of the first aligned logical block. */
    alignmentOffset: number;
    /** Suggested minimum I/O size, in logical blocks. */
    minIoSize: number;
    /** Optimal (suggested maximum) I/O size, in logical blocks. */
    optIoSize: number;
  };
  /** Offer VIRTIO_BLK_F_FLUSH (the spec says devices SHOULD). Default true. */
  flush?: boolean;
  /** Offer VIRTIO_BLK_F_CONFIG_WCE (requires `flush`). Default true. */
  configWce?: boolean;
  /** Initial cache mode: writeback (true) or writethrough (false). Default true. */
  writeback?: boolean;
  /** DISCARD: true/limits to offer it, false not to. Default: offered when the backend has `discard`. */
  discard?: boolean | SegmentCommandOptions;
  /** WRITE_ZEROES: offered by default (emulated with zero writes if the backend lacks `writeZeroes`). */
  writeZeroes?: boolean | WriteZeroesOptions;
  /** SECURE_ERASE: default offered when the backend has `secureErase`; if forced without it, zeroes are written and flushed. */
  secureErase?: boolean | SegmentCommandOptions;
  /** A fixed GET_LIFETIME answer (offers VIRTIO_BLK_F_LIFETIME); the backend's `lifetime()` otherwise. */
  lifetime?: BlockLifetime;
  /**
   * Reserved (ring) feature bits offered besides VIRTIO_F_VERSION_1. Default
   * VIRTIO_F_INDIRECT_DESC | VIRTIO_F_EVENT_IDX; add `featureBit(Feature.RING_PACKED)` for packed
   * rings, `featureBit(Feature.RING_RESET)` for per-queue reset. Only these four: the device never
   * offers what it does not do (VIRTIO_F_IN_ORDER, for one: requests complete out of order).
   */
  ringFeatures?: bigint;
  /** Called for every backend error (the request is answered IOERR). */
  onBackendError?: (error: unknown, info: BackendErrorInfo) => void;
}

/**
 * Plain-data device state from {@link BlockDevice.snapshot}.
 * @example
 * ```ts
 * const saved: BlockDeviceSnapshot = { capacity: '2048', writeback: 1 };
 * ```
 */
export interface BlockDeviceSnapshot {
  /** Capacity in sectors, as a decimal string. */
  capacity: string;
  /** The `writeback` config field, 0 or 1. */
  writeback: number;
}

const DEFAULT_MAX_SECTORS = 0x3f_ffff;
const DEFAULT_MAX_SEGMENTS = 32;

function int(value: unknown, min: number, max: number, label: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw new RangeError(`BlockDevice: ${label} must be an integer in ${min}..${max}, got ${String(value)}`);
  return value;
}

function isPow2(n: number): boolean {
  return (n & (n - 1)) === 0;
}

function limits(option: boolean | SegmentCommandOptions | WriteZeroesOptions | undefined, defaultAlignment: number, label: string): SegmentLimits {
  const o = typeof option === 'object' && option !== null ? option : {};
  const a = 'alignment' in o ? o.alignment : undefined;
  return {
    maxSectors: int(o.maxSectors ?? DEFAULT_MAX_SECTORS, 1, 0xffff_ffff, `${label}.maxSectors`),
    maxSegments: int(o.maxSegments ?? DEFAULT_MAX_SEGMENTS, 1, 65536, `${label}.maxSegments`),
    alignment: int(a ?? defaultAlignment, 1, 0xffff_ffff, `${label}.alignment`),
  };
}

/**
 * A virtio-blk device over a {@link BlockBackend}: served in process by a transport such as
 * `@vmv/transport-mmio`, or out of process by a vhost-user backend daemon, unchanged.
 *
 * Requests run concurrently up to `maxInflight` per queue and complete in any order; each
 * completion writes its used element at once, and the driver is interrupted when its
 * notification suppression (EVENT_IDX) asks for it. Malformed requests get the status the spec
 * prescribes; only a corrupted ring (a queue error) makes the device report DEVICE_NEEDS_RESET.
 *
 * @example
 * ```ts
 * import { BlockDevice, MemoryBackend } from '@vmv/block';
 * const device = new BlockDevice({ backend: new MemoryBackend(64 << 20), serial: 'ramdisk0' });
 * const mmio = new VirtioMmioDevice(device, memory); // any transport
 * ```
 */
export class BlockDevice implements VirtioDevice {
  readonly deviceId = DeviceId.BLOCK;
  readonly deviceFeatures: bigint;
  readonly queueMaxSizes: readonly number[];
  readonly configSize = BLOCK_CONFIG_SIZE;
  /** The storage. */
  readonly backend: BlockBackend;
  /** Whether the device is read-only (VIRTIO_BLK_F_RO offered). */
  readonly readOnly: boolean;
  /** Request counters since creation. */
  readonly stats: BlockStats = { requests: 0, ok: 0, ioerr: 0, unsupp: 0, noStatus: 0, backendErrors: 0 };

  private readonly config: ConfigSpace;
  private readonly depth: number;
  private readonly id: Uint8Array | null;
  private readonly lifetimeSource: (() => BlockLifetime | Promise<BlockLifetime>) | null;
  private readonly discardLimits: SegmentLimits;
  private readonly writeZeroesLimits: SegmentLimits;
  private readonly secureEraseLimits: SegmentLimits;
  private readonly segMax: number;
  private readonly sizeMax: number;
  private readonly initialWriteback: number;
  private readonly onBackendError: ((error: unknown, info: BackendErrorInfo) => void) | undefined;
  private readonly directReads: boolean;
  private capacitySectors: number;
  private negotiated = 0n;
  private featuresSeen = false;
  private host: DeviceHost | null = null;
  private context: ActivationContext | null = null;
  private workers: (QueueWorker | null)[] = [];
  /** Per queue index, for the life of the device: requests in flight, reset activations' included. */
  private readonly budgets: InFlightBudget[];
  private pendingOps = 0;
  private drainWaiters: (() => void)[] = [];
  /** What the workers of the current activation share; null when not activated. */
  private engineHost: EngineHost | null = null;
  /** `write_zeroes_may_unmap` was taken from `backend.canUnmap` and follows it. */
  private readonly unmapFollowsBackend: boolean;

  /**
   * @param options - see {@link BlockDeviceOptions}.
   * @throws TypeError when `backend` is not a backend (read, write and flush functions, a numeric size).
   * @throws RangeError when an option is out of range, the backend size is not a multiple of 512,
   *   or CONFIG_WCE is asked for without FLUSH.
   */
  constructor(options: BlockDeviceOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('BlockDevice: options must be an object');
    const backend = options.backend;
    if (typeof backend !== 'object' || backend === null || typeof backend.read !== 'function' || typeof backend.write !== 'function' || typeof backend.flush !== 'function') {
      throw new TypeError('BlockDevice: backend must implement read, write and flush');
    }
    this.backend = backend;
    this.capacitySectors = BlockDevice.sectorsOf(backend.size, 'backend.size');
    this.readOnly = options.readOnly ?? backend.readOnly === true;
    const numQueues = int(options.numQueues ?? 1, 1, 256, 'numQueues');
    const queueSize = int(options.queueSize ?? 256, 2, 32768, 'queueSize');
    if (!isPow2(queueSize)) throw new RangeError(`BlockDevice: queueSize must be a power of two, got ${queueSize}`);
    this.depth = int(options.maxInflight ?? Math.min(64, queueSize), 1, queueSize, 'maxInflight');
    this.queueMaxSizes = Object.freeze(new Array<number>(numQueues).fill(queueSize));
    this.budgets = Array.from({ length: numQueues }, () => new InFlightBudget(this.depth));
    this.id = options.serial === undefined ? null : encodeId(options.serial);
    this.onBackendError = options.onBackendError;
    this.directReads = options.directReads === true;

    const B = BlockFeature;
    let f = featureBit(Feature.VERSION_1) | (options.ringFeatures ?? (featureBit(Feature.INDIRECT_DESC) | featureBit(Feature.EVENT_IDX)));
    if (options.ringFeatures !== undefined) checkRingFeatures(options.ringFeatures);
    const cfg = encodeBlockConfig({
      capacity: BigInt(this.capacitySectors),
      sizeMax: 0,
      segMax: 0,
      geometry: { cylinders: 0, heads: 0, sectors: 0 },
      blkSize: 0,
      topology: { physicalBlockExp: 0, alignmentOffset: 0, minIoSize: 0, optIoSize: 0 },
      writeback: 0,
      numQueues,
      maxDiscardSectors: 0,
      maxDiscardSeg: 0,
      discardSectorAlignment: 0,
      maxWriteZeroesSectors: 0,
      maxWriteZeroesSeg: 0,
      writeZeroesMayUnmap: 0,
      maxSecureEraseSectors: 0,
      maxSecureEraseSeg: 0,
      secureEraseSectorAlignment: 0,
    });
    this.config = new ConfigSpace(BLOCK_CONFIG_SIZE);
    this.config.bytes.set(cfg);
    const c = this.config;
    const O = BlockConfigOffset;

    if (options.sizeMax !== undefined) {
      this.sizeMax = int(options.sizeMax, 4096, 0xffff_ffff, 'sizeMax');
      c.setU32(O.sizeMax, this.sizeMax);
      f |= featureBit(B.SIZE_MAX);
    } else {
      this.sizeMax = 0;
    }
    this.segMax = int(options.segMax ?? queueSize - 2, 0, 0xffff_ffff, 'segMax');
    if (this.segMax > 0) {
      c.setU32(O.segMax, this.segMax);
      f |= featureBit(B.SEG_MAX);
    }
    if (options.geometry !== undefined) {
      const g = options.geometry;
      c.setU16(O.geometryCylinders, int(g.cylinders, 0, 0xffff, 'geometry.cylinders'));
      c.setU8(O.geometryHeads, int(g.heads, 0, 0xff, 'geometry.heads'));
      c.setU8(O.geometrySectors, int(g.sectors, 0, 0xff, 'geometry.sectors'));
      f |= featureBit(B.GEOMETRY);
    }
    if (this.readOnly) f |= featureBit(B.RO);
    let blockSectors = 1;
    if (options.blkSize !== undefined) {
      const bs = int(options.blkSize, 512, 65536, 'blkSize');
      if (!isPow2(bs)) throw new RangeError(`BlockDevice: blkSize must be a power of two, got ${bs}`);
      c.setU32(O.blkSize, bs);
      blockSectors = bs / SECTOR_SIZE;
      f |= featureBit(B.BLK_SIZE);
    }
    if (options.topology !== undefined) {
      const t = options.topology;
      c.setU8(O.physicalBlockExp, int(t.physicalBlockExp, 0, 0xff, 'topology.physicalBlockExp'));
      c.setU8(O.alignmentOffset, int(t.alignmentOffset, 0, 0xff, 'topology.alignmentOffset'));
      c.setU16(O.minIoSize, int(t.minIoSize, 0, 0xffff, 'topology.minIoSize'));
      c.setU32(O.optIoSize, int(t.optIoSize, 0, 0xffff_ffff, 'topology.optIoSize'));
      f |= featureBit(B.TOPOLOGY);
    }
    const flush = options.flush ?? true;
    if (flush) f |= featureBit(B.FLUSH);
    const wce = options.configWce ?? flush;
    if (wce && !flush) throw new RangeError('BlockDevice: configWce requires flush (VIRTIO 1.2 §5.2.5: CONFIG_WCE implies FLUSH)');
    this.initialWriteback = (options.writeback ?? true) ? 1 : 0;
    c.setU8(O.writeback, this.initialWriteback);
    if (wce) {
      c.allowWrite(O.writeback, 1);
      f |= featureBit(B.CONFIG_WCE);
    }
    if (numQueues > 1) f |= featureBit(B.MQ);

    const writable = !this.readOnly;
    this.discardLimits = limits(options.discard, blockSectors, 'discard');
    const discard = options.discard === undefined ? typeof backend.discard === 'function' : options.discard !== false;
    if (writable && discard) {
      c.setU32(O.maxDiscardSectors, this.discardLimits.maxSectors);
      c.setU32(O.maxDiscardSeg, this.discardLimits.maxSegments);
      c.setU32(O.discardSectorAlignment, this.discardLimits.alignment);
      f |= featureBit(B.DISCARD);
    }
    this.writeZeroesLimits = limits(options.writeZeroes, 1, 'writeZeroes');
    if (writable && options.writeZeroes !== false) {
      c.setU32(O.maxWriteZeroesSectors, this.writeZeroesLimits.maxSectors);
      c.setU32(O.maxWriteZeroesSeg, this.writeZeroesLimits.maxSegments);
      const wz = typeof options.writeZeroes === 'object' ? options.writeZeroes : {};
      c.setU8(O.writeZeroesMayUnmap, (wz.mayUnmap ?? backend.canUnmap === true) ? 1 : 0);
      this.unmapFollowsBackend = wz.mayUnmap === undefined && backend.canUnmap === true;
      f |= featureBit(B.WRITE_ZEROES);
    } else {
      this.unmapFollowsBackend = false;
    }
    this.secureEraseLimits = limits(options.secureErase, blockSectors, 'secureErase');
    const erase = options.secureErase === undefined ? typeof backend.secureErase === 'function' : options.secureErase !== false;
    if (writable && erase) {
      c.setU32(O.maxSecureEraseSectors, this.secureEraseLimits.maxSectors);
      c.setU32(O.maxSecureEraseSeg, this.secureEraseLimits.maxSegments);
      c.setU32(O.secureEraseSectorAlignment, this.secureEraseLimits.alignment);
      f |= featureBit(B.SECURE_ERASE);
    }
    if (options.lifetime !== undefined) {
      const l = options.lifetime;
      if (!isValidLifetime(l)) throw new RangeError('BlockDevice: lifetime.preEolInfo must be 0..3 and the estimates 0..11');
      const fixed = { ...l };
      this.lifetimeSource = () => fixed;
    } else if (typeof backend.lifetime === 'function') {
      this.lifetimeSource = () => backend.lifetime!();
    } else {
      this.lifetimeSource = null;
    }
    if (this.lifetimeSource !== null) f |= featureBit(B.LIFETIME);
    this.deviceFeatures = f;
  }

  private static sectorsOf(size: unknown, label: string): number {
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || size % SECTOR_SIZE !== 0) {
      throw new RangeError(`BlockDevice: ${label} must be a non-negative multiple of ${SECTOR_SIZE} bytes, got ${String(size)} (pad the image to whole sectors)`);
    }
    return size / SECTOR_SIZE;
  }

  /** Capacity in 512-byte sectors, as advertised. */
  get capacity(): number {
    return this.capacitySectors;
  }

  /** The cache mode the driver sees: true for writeback, false for writethrough. */
  get writeback(): boolean {
    return this.config.getU8(BlockConfigOffset.writeback) !== 0;
  }

  /** Requests popped and not yet completed, over all queues. */
  get inFlight(): number {
    let n = 0;
    for (const w of this.workers) if (w !== null) n += w.inFlight;
    return n;
  }

  /**
   * Whether completed writes must already be stable (VIRTIO 1.2 §5.2.6.2): FLUSH offered and
   * either neither FLUSH nor CONFIG_WCE negotiated, or CONFIG_WCE negotiated with `writeback` 0.
   */
  private get writethrough(): boolean {
    const f = this.deviceFeatures;
    if (!hasFeature(f, BlockFeature.FLUSH)) return false;
    const n = this.negotiated;
    if (hasFeature(n, BlockFeature.CONFIG_WCE)) return this.config.getU8(BlockConfigOffset.writeback) === 0;
    return !hasFeature(n, BlockFeature.FLUSH);
  }

  /**
   * Driver read of the configuration space.
   * @param offset - byte offset (the transport checked the range).
   * @param data - destination.
   */
  readConfig(offset: number, data: Uint8Array): void {
    this.config.read(offset, data);
  }

  /**
   * Driver write of the configuration space: only `writeback` is writable, and only once
   * VIRTIO_BLK_F_CONFIG_WCE is negotiated; any non-zero value selects writeback.
   * @param offset - byte offset.
   * @param data - the bytes written.
   */
  writeConfig(offset: number, data: Uint8Array): void {
    if (offset !== BlockConfigOffset.writeback || data.length !== 1) return;
    if (!hasFeature(this.negotiated, BlockFeature.CONFIG_WCE)) return;
    this.config.write(offset, new Uint8Array([data[0] === 0 ? 0 : 1]));
  }

  /**
   * At FEATURES_OK: records the accepted features; with CONFIG_WCE but not FLUSH the cache mode
   * starts as writethrough (VIRTIO 1.2 §5.2.5, device requirement).
   * @param driverFeatures - the accepted set (already a subset of `deviceFeatures`).
   * @returns true: the block device accepts every subset.
   */
  validateFeatures(driverFeatures: bigint): boolean {
    this.applyFeatures(driverFeatures);
    return true;
  }

  private applyFeatures(f: bigint): void {
    this.negotiated = f;
    this.featuresSeen = true;
    if (hasFeature(f, BlockFeature.CONFIG_WCE) && !hasFeature(f, BlockFeature.FLUSH)) this.config.setU8(BlockConfigOffset.writeback, 0);
  }

  /**
   * Called once by the serving transport.
   * @param host - where config changes (resize) are reported.
   */
  attach(host: DeviceHost): void {
    this.host = host;
  }

  /**
   * DRIVER_OK: starts serving the enabled request queues.
   * @param context - memory, queues, negotiated features, interrupts.
   */
  activate(context: ActivationContext): void {
    this.stopWorkers();
    if (!this.featuresSeen) this.applyFeatures(context.features);
    else this.negotiated = context.features;
    this.context = context;
    const n = context.features;
    const B = BlockFeature;
    const host: EngineHost = {
      backend: this.backend,
      readOnly: this.readOnly,
      capacity: () => this.capacitySectors,
      writethrough: () => this.writethrough,
      flushOffered: hasFeature(this.deviceFeatures, B.FLUSH),
      id: this.id,
      lifetime: hasFeature(n, B.LIFETIME) ? this.lifetimeSource : null,
      discard: hasFeature(n, B.DISCARD) ? this.discardLimits : null,
      writeZeroes: hasFeature(n, B.WRITE_ZEROES) ? this.writeZeroesLimits : null,
      secureErase: hasFeature(n, B.SECURE_ERASE) ? this.secureEraseLimits : null,
      segMax: hasFeature(this.deviceFeatures, B.SEG_MAX) ? this.segMax : 0,
      sizeMax: hasFeature(this.deviceFeatures, B.SIZE_MAX) ? this.sizeMax : 0,
      dirtyLogged: context.memory.regions.some((r) => r.dirtyLog !== null),
      directReads: this.directReads,
      stats: this.stats,
      opStarted: () => {
        this.pendingOps++;
      },
      opSettled: () => this.opSettled(),
      backendError: (error, type, sector) => this.onBackendError?.(error, { type, sector }),
      unmapAttempted: () => this.followUnmap(),
    };
    this.engineHost = host;
    this.workers = this.queueMaxSizes.map((_, i) => (context.queues[i] ? new QueueWorker(host, context, i, this.budgets[i]!) : null));
  }

  /**
   * The driver took queue `queueIndex` back (QueueReady = 0, or a virtqueue reset, VIRTIO 1.2
   * §2.6.1.1): its worker stops at once. Requests still running in the backend complete without
   * writing their data, their status or a used element (with `directReads`, a read already handed
   * to the backend may still land in its buffer).
   * @param queueIndex - the queue taken out of service.
   */
  queueReset(queueIndex: number): void {
    const w = this.workers[queueIndex];
    if (w === null || w === undefined) return;
    w.dead = true;
    this.workers[queueIndex] = null;
  }

  /**
   * The driver enabled queue `queueIndex` again after a virtqueue reset (VIRTIO 1.2 §2.6.1.2):
   * a new worker serves the new queue from its initial position.
   * @param queueIndex - the queue enabled.
   * @param _queue - its new virtqueue (also `ctx.queues[queueIndex]`, where the worker finds it).
   */
  queueEnable(queueIndex: number, _queue: Virtqueue): void {
    this.queueReset(queueIndex);
    if (this.context === null || this.engineHost === null || queueIndex >= this.workers.length) return;
    this.workers[queueIndex] = new QueueWorker(this.engineHost, this.context, queueIndex, this.budgets[queueIndex]!);
  }

  /**
   * The driver notified queue `queueIndex`: pop and start requests.
   * @param queueIndex - the queue.
   */
  queueNotify(queueIndex: number): void {
    this.workers[queueIndex]?.pump();
  }

  /**
   * Back to the initial state. Requests still running in the backend complete without touching
   * guest memory or the queues: a read lands in the device's own buffer and is dropped (with
   * `directReads`, it may still land in its guest buffer, as in-flight DMA would: await
   * {@link drain} before reusing that memory).
   */
  reset(): void {
    this.stopWorkers();
    this.context = null;
    this.engineHost = null;
    this.negotiated = 0n;
    this.featuresSeen = false;
    this.config.setU8(BlockConfigOffset.writeback, this.initialWriteback);
  }

  private stopWorkers(): void {
    for (const w of this.workers) if (w !== null) w.dead = true;
    this.workers = [];
  }

  private opSettled(): void {
    if (--this.pendingOps > 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Waits until no backend operation is running (including those of requests from before a reset).
   * @returns a promise that resolves when the backend is idle.
   * @example
   * ```ts
   * device.reset(); await device.drain(); // now no I/O can reach the old guest buffers
   * ```
   */
  drain(): Promise<void> {
    if (this.pendingOps === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /**
   * Changes the advertised capacity and sends a configuration-change notification (through the
   * transport, which bumps the config generation). Grow the backend first.
   * @param newCapacity - sectors; default: the backend's current size / 512.
   * @throws RangeError when the capacity is not a non-negative integer or exceeds the backend's size.
   * @example
   * ```ts
   * await file.truncate(2 << 30); device.resize(); // the guest sees a 2 GiB disk
   * ```
   */
  resize(newCapacity?: number | bigint): void {
    const max = BlockDevice.sectorsOf(this.backend.size, 'backend.size');
    let sectors: number;
    if (newCapacity === undefined) sectors = max;
    else if (typeof newCapacity === 'bigint') sectors = newCapacity >= 0n && newCapacity <= BigInt(max) ? Number(newCapacity) : -1;
    else sectors = Number.isSafeInteger(newCapacity) && newCapacity >= 0 ? newCapacity : -1;
    if (sectors < 0 || sectors > max) throw new RangeError(`BlockDevice.resize: capacity must be an integer in 0..${max} sectors (the backend's size), got ${String(newCapacity)}`);
    if (sectors === this.capacitySectors) return;
    this.capacitySectors = sectors;
    this.config.setU64(BlockConfigOffset.capacity, sectors);
    this.configChanged();
  }

  private configChanged(): void {
    if (this.host !== null) this.host.configChanged();
    else this.context?.interrupt.signalConfigChange();
  }

  /**
   * After a DISCARD or WRITE_ZEROES: a backend that found it cannot deallocate after all (a file
   * system without hole punching) no longer says `canUnmap`; the driver is told (§5.2.6.2).
   */
  private followUnmap(): void {
    if (!this.unmapFollowsBackend || this.backend.canUnmap === true) return;
    if (this.config.getU8(BlockConfigOffset.writeZeroesMayUnmap) === 0) return;
    this.config.setU8(BlockConfigOffset.writeZeroesMayUnmap, 0);
    this.configChanged();
  }

  /**
   * Device state as plain data (capacity and cache mode). Queue positions are the transport's;
   * requests in flight are not included: stop notifying and {@link drain} first.
   * @returns a JSON-serialisable snapshot.
   */
  snapshot(): BlockDeviceSnapshot {
    return { capacity: String(this.capacitySectors), writeback: this.config.getU8(BlockConfigOffset.writeback) };
  }

  /**
   * Restores {@link snapshot} data.
   * @param state - a snapshot.
   * @throws Block.InvalidSnapshotError when it is malformed or the capacity exceeds the backend.
   */
  restore(state: unknown): void {
    if (typeof state !== 'object' || state === null) throw new InvalidSnapshotError('state', 'not an object');
    const { capacity, writeback } = state as Record<string, unknown>;
    if (typeof capacity !== 'string' || !/^\d{1,16}$/.test(capacity)) throw new InvalidSnapshotError('capacity', 'must be a decimal string');
    const sectors = Number(capacity);
    if (!Number.isSafeInteger(sectors) || sectors * SECTOR_SIZE > this.backend.size) throw new InvalidSnapshotError('capacity', `${capacity} sectors exceed the backend's ${this.backend.size} bytes`);
    if (writeback !== 0 && writeback !== 1) throw new InvalidSnapshotError('writeback', 'must be 0 or 1');
    this.capacitySectors = sectors;
    this.config.setU64(BlockConfigOffset.capacity, sectors);
    this.config.setU8(BlockConfigOffset.writeback, writeback);
  }
}

/** The ring features the device implements, and so may offer. */
const RING_FEATURES_DONE = featureBit(Feature.INDIRECT_DESC) | featureBit(Feature.EVENT_IDX) | featureBit(Feature.RING_PACKED) | featureBit(Feature.RING_RESET);

function checkRingFeatures(bits: bigint): void {
  if (typeof bits !== 'bigint' || bits < 0n || bits >= 1n << 64n || (bits & 0xff_ffffn) !== 0n) {
    throw new RangeError('BlockDevice: ringFeatures must hold reserved feature bits only (24 to 63)');
  }
  const extra = bits & ~RING_FEATURES_DONE;
  if (extra !== 0n) {
    const names: string[] = [];
    for (let b = 24; b < 64; b++) {
      if (((extra >> BigInt(b)) & 1n) === 0n) continue;
      const name = Object.entries(Feature).find(([, v]) => v === b)?.[0];
      names.push(name === undefined ? `bit ${b}` : `VIRTIO_F_${name} (bit ${b})`);
    }
    throw new RangeError(`BlockDevice: ringFeatures may hold only INDIRECT_DESC, EVENT_IDX, RING_PACKED and RING_RESET; the device does not implement ${names.join(', ')}`);
  }
}
