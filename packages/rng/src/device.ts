/**
 * The virtio-rng device (VIRTIO 1.2 §5.4, entropy device), independent of any transport: one
 * request queue (§5.4.2), no device feature bits (§5.4.3) and no configuration space (§5.4.4).
 * Every device-writable buffer of a chain is filled from an {@link EntropySource} and the used
 * length is exactly the bytes written (§5.4.6.1: at least one byte; a chain with no writable
 * buffer is returned with used length 0, §2.7.8). Chains are served one at a time, in ring
 * order, so a source's bytes reach the guest in the order the source gave them. An optional
 * {@link RateLimiter} bounds the bytes per period, as rust-vmm's vhost-device-rng does.
 * @module
 */
import { DeviceId, Feature, InFlightBudget, featureBit, serveQueue } from '@vmv/device-trait';
import type { ActivationContext, ChainHandler, DescriptorChain, ServedQueue, VirtioDevice, Writer } from '@vmv/device-trait';
import type { RngError} from './errors.js';
import { SourceError, SourceExhaustedError } from './errors.js';
import type { RateLimiter } from './rate-limiter.js';
import { MAX_SOURCE_REQUEST, webCryptoSource } from './source.js';
import type { EntropySource } from './source.js';

/**
 * Options of an {@link RngDevice}. All have defaults.
 * @example
 * ```ts
 * const opts: RngDeviceOptions = { source: (n) => crypto.getRandomValues(new Uint8Array(n)), queueSize: 256 };
 * ```
 */
export interface RngDeviceOptions {
  /** Where the bytes come from. Default {@link webCryptoSource}. */
  source?: EntropySource;
  /** A byte budget per period, possibly shared with other devices. Default: no limit. */
  rateLimiter?: RateLimiter;
  /** Largest ring size, a power of two in 2..32768. Default 1024 (vhost-device-rng's). */
  queueSize?: number;
  /**
   * Reserved (ring) feature bits offered besides VIRTIO_F_VERSION_1. Default
   * VIRTIO_F_INDIRECT_DESC | VIRTIO_F_EVENT_IDX; `featureBit(Feature.RING_PACKED)` may be added.
   */
  ringFeatures?: bigint;
  /**
   * Called when the source fails or runs out. The chain being filled is returned with the bytes
   * it already has, if any; otherwise it waits (the guest's read blocks) until the device is reset,
   * and no further chain is served: a guest is never handed zero bytes as entropy.
   */
  onSourceError?: (error: RngError) => void;
}

/**
 * Counters of an {@link RngDevice} since creation.
 * @example
 * ```ts
 * console.log(`${device.stats.bytes} bytes in ${device.stats.requests} requests`);
 * ```
 */
export interface RngStats {
  /** Chains taken from the request queue. */
  requests: number;
  /** Bytes written into guest buffers (the sum of the used lengths reported). */
  bytes: number;
  /** Chains with no device-writable buffer (returned with used length 0). */
  empty: number;
  /** Chains returned with fewer bytes than their writable buffers hold (rate limit or source). */
  short: number;
  /** Source failures reported through `onSourceError`. */
  sourceErrors: number;
}

const RING_FEATURES_ALLOWED = featureBit(Feature.INDIRECT_DESC) | featureBit(Feature.EVENT_IDX) | featureBit(Feature.RING_PACKED);

function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/** One chain being filled. */
interface Fill {
  readonly chain: DescriptorChain;
  readonly served: ServedQueue;
  readonly out: Writer;
  /** The activation it belongs to. */
  readonly generation: number;
  /** Bytes still to write (of those granted). */
  left: number;
  /** Waiting on the rate limiter: withdraws the request. */
  cancel: (() => void) | null;
  /** Held after a source failure, until a reset. */
  held: boolean;
}

/**
 * A virtio-rng device: served in process by a transport such as `@vmv/transport-mmio`, or out of
 * process by `@vmv/vhost-user` (the `vmv-vhost-user-rng` daemon), unchanged.
 *
 * @example
 * ```ts
 * import { RngDevice } from '@vmv/rng';
 * const device = new RngDevice(); // Web Crypto, no limit
 * const mmio = new VirtioMmioTransport(device, { memory, interrupt }); // any transport
 * ```
 */
export class RngDevice implements VirtioDevice {
  readonly deviceId = DeviceId.ENTROPY;
  readonly deviceFeatures: bigint;
  readonly queueMaxSizes: readonly number[];
  readonly configSize = 0;
  /** Counters since creation. */
  readonly stats: RngStats = { requests: 0, bytes: 0, empty: 0, short: 0, sourceErrors: 0 };
  /** The rate limiter, if any. */
  readonly rateLimiter: RateLimiter | null;

  private readonly source: EntropySource;
  private readonly onSourceError: ((error: RngError) => void) | undefined;
  private ctx: ActivationContext | null = null;
  private generation = 0;
  /** One chain at a time, for the life of the device (a reset activation's chain keeps its slot). */
  private readonly budget = new InFlightBudget(1);
  private current: Fill | null = null;

  /**
   * @param options - see {@link RngDeviceOptions}.
   * @throws TypeError when `source` is not a function, or no source is given and the runtime has no Web Crypto.
   * @throws RangeError when `queueSize` or `ringFeatures` is out of range.
   */
  constructor(options: RngDeviceOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('RngDevice: options must be an object');
    if (options.source !== undefined && typeof options.source !== 'function') throw new TypeError('RngDevice: source must be a function (length) => Uint8Array | Promise<Uint8Array>');
    this.source = options.source ?? webCryptoSource();
    const size = options.queueSize ?? 1024;
    if (!Number.isInteger(size) || size < 2 || size > 32768 || (size & (size - 1)) !== 0) throw new RangeError(`RngDevice: queueSize must be a power of two in 2..32768, got ${String(size)}`);
    this.queueMaxSizes = Object.freeze([size]);
    const ring = options.ringFeatures ?? (featureBit(Feature.INDIRECT_DESC) | featureBit(Feature.EVENT_IDX));
    if (typeof ring !== 'bigint' || (ring & ~RING_FEATURES_ALLOWED) !== 0n) throw new RangeError('RngDevice: ringFeatures may hold only INDIRECT_DESC, EVENT_IDX and RING_PACKED');
    this.deviceFeatures = featureBit(Feature.VERSION_1) | ring;
    this.rateLimiter = options.rateLimiter ?? null;
    this.onSourceError = options.onSourceError;
  }

  /**
   * No configuration space (§5.4.4): reads as zeros.
   * @param _offset - ignored.
   * @param data - zero-filled.
   */
  readConfig(_offset: number, data: Uint8Array): void {
    data.fill(0);
  }

  /** No configuration space: writes are ignored. */
  writeConfig(): void {}

  /**
   * DRIVER_OK: starts serving the request queue.
   * @param ctx - memory, queues, negotiated features, interrupts.
   */
  activate(ctx: ActivationContext): void {
    this.retire();
    this.ctx = ctx;
  }

  /**
   * The driver made buffers available on the request queue (queue 0; other indices are ignored).
   * @param index - the queue.
   */
  queueNotify(index: number): void {
    if (this.ctx !== null && index === 0) serveQueue(this.ctx, 0, this.handle, this.budget);
  }

  /**
   * Back to the initial state: a chain waiting on the rate limit or held after a source failure is
   * released (the queue drops it); one whose source call is still running is released when it
   * returns, and its bytes are not written.
   */
  reset(): void {
    this.retire();
    this.ctx = null;
  }

  private retire(): void {
    this.generation++;
    const f = this.current;
    if (f === null) return;
    if (f.cancel !== null || f.held) {
      f.cancel?.();
      this.finish(f, 0);
    }
  }

  private readonly handle: ChainHandler = (chain, served) => {
    this.stats.requests++;
    const out = chain.writer();
    const total = out.remaining;
    if (total === 0) {
      this.stats.empty++;
      served.complete(chain, 0);
      return;
    }
    const f: Fill = { chain, served, out, generation: this.generation, left: 0, cancel: null, held: false };
    this.current = f;
    const limiter = this.rateLimiter;
    if (limiter === null) {
      f.left = total;
      this.pump(f);
      return;
    }
    let granted = false;
    const cancel = limiter.request(total, (n) => {
      granted = true;
      f.cancel = null;
      f.left = n;
      this.pump(f);
    });
    if (!granted) f.cancel = cancel;
  };

  /** Fills `f` from the source until its grant is written, synchronously while the source is. */
  private pump(f: Fill): void {
    while (f.left > 0) {
      let r: Uint8Array | Promise<Uint8Array>;
      try {
        r = this.source(Math.min(f.left, MAX_SOURCE_REQUEST));
      } catch (e) {
        this.fail(f, new SourceError(`the source threw: ${describe(e)}`, e));
        return;
      }
      if (isPromiseLike(r)) {
        r.then(
          (bytes) => {
            if (this.take(f, bytes)) this.pump(f);
          },
          (e: unknown) => {
            if (f.generation === this.generation) this.fail(f, new SourceError(`the source rejected: ${describe(e)}`, e));
            else this.finish(f, 0);
          },
        );
        return;
      }
      if (!this.take(f, r)) return;
    }
    this.finish(f, f.out.written);
  }

  /** Writes what the source gave; false when the fill stops here. */
  private take(f: Fill, bytes: unknown): boolean {
    // A reset since: guest memory is not ours to write any more; release the chain's slot.
    if (f.generation !== this.generation) {
      this.finish(f, 0);
      return false;
    }
    if (!(bytes instanceof Uint8Array)) {
      this.fail(f, new SourceError(`the source returned ${bytes === null ? 'null' : typeof bytes}, not a Uint8Array`));
      return false;
    }
    if (bytes.length === 0) {
      this.fail(f, new SourceExhaustedError(`no bytes after ${this.stats.bytes + f.out.written} served`));
      return false;
    }
    const b = bytes.length > f.left ? bytes.subarray(0, f.left) : bytes;
    f.out.write(b);
    f.left -= b.length;
    return true;
  }

  /** A source failure: return what the chain has, or hold it (never zero bytes as entropy). */
  private fail(f: Fill, error: RngError): void {
    this.stats.sourceErrors++;
    if (f.out.written > 0) this.finish(f, f.out.written);
    else f.held = true;
    this.onSourceError?.(error);
  }

  private finish(f: Fill, written: number): void {
    if (this.current === f) this.current = null;
    if (f.generation === this.generation && written > 0) {
      this.stats.bytes += written;
      if (f.out.remaining > 0) this.stats.short++;
    }
    f.served.complete(f.chain, written);
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
