/**
 * virtio-blk requests for the daemon tests, over the public vhost-user frontend
 * (`@vmv/vhost-user/frontend`) set up as QEMU 7.2's vhost-user-blk sets it up: guest RAM in a
 * memfd, real kick and call eventfds, split rings. What is here is the virtio-blk side only
 * (request layout, completion), plus the tests' hang bound.
 */
import { decodeBlockConfig, encodeRequestHeader, REQUEST_HEADER_SIZE, RequestType, type BlockConfig } from '@vmv/block';
import type { GuestMemory } from '@vmv/memory';
import { SharedGuestMemory, VhostUserFrontend, type FrontendVring } from '@vmv/vhost-user/frontend';
import { ProtocolFeature, VhostFeature, protocolFeatureMask } from '@vmv/vhost-user/protocol';

const RAM_SIZE = 8 << 20;
const RING_SIZE = 128;
/** Ring i lives at RING_BASE + i * RING_STRIDE. */
const RING_BASE = 0x1_0000;
const RING_STRIDE = 0x1_0000;
/** Request buffers: header, data, status, allocated per request from here. */
const DATA_BASE = 0x10_0000;

/**
 * How long a test waits for something that must happen (a reply, a completion, a log line, the
 * daemon's socket) before it reports a hang: far beyond what a loaded machine needs, below
 * jest's 30 s test timeout so the failure says what was awaited.
 */
export const HANG_MS = 20_000;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits for `cond()` to hold, polling; fails after `ms` (a hang). */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(2);
  }
}

type Ring = FrontendVring<number>;

/** What a completed block request returned. */
export interface BlkResult {
  readonly status: number;
  readonly data: Uint8Array;
  readonly len: number;
}

/** One virtio-blk request: OUT carries `out`, IN receives `inLen` bytes. */
export interface BlkRequest {
  readonly type: number;
  readonly sector: bigint;
  readonly out: Uint8Array | null;
  readonly inLen: number;
}

/** Options of {@link BlkFrontend.connect}. */
export interface ConnectOptions {
  /** Queues to set up (at most what GET_QUEUE_NUM reports). Default: all of them. */
  readonly queues?: number;
}

/**
 * One frontend connection to a vhost-user-blk backend, set up like QEMU and able to run
 * virtio-blk requests.
 */
export class BlkFrontend {
  readonly ram: GuestMemory;
  features = 0n;
  protocolFeatures = 0n;
  queueNum = 0;
  config: BlockConfig | null = null;
  /** The vhost-user connection itself (config, ring control). */
  readonly fe: VhostUserFrontend;
  private readonly shared: SharedGuestMemory;
  private rings: Ring[] = [];
  private nextData = DATA_BASE;
  private closedByPeer = false;
  private released = false;
  /** Resolves when the backend closes the connection. */
  readonly peerClosed: Promise<void>;
  private markPeerClosed!: () => void;

  private constructor(path: string) {
    this.peerClosed = new Promise((resolve) => (this.markPeerClosed = resolve));
    this.fe = VhostUserFrontend.connect(path, {
      replyTimeoutMs: HANG_MS,
      onEvent: (e) => {
        if (e.type === 'closed' && !this.released) {
          this.closedByPeer = true;
          this.markPeerClosed();
        }
      },
    });
    this.shared = SharedGuestMemory.create(RAM_SIZE, { name: 'blk-test-ram' });
    this.ram = this.shared.memory;
  }

  /**
   * Connects and performs QEMU's start-up sequence: features, protocol features, queue count,
   * owner, config, memory table, then each ring (num, base, addr, kick, call), then enables them.
   */
  static async connect(path: string, options: ConnectOptions = {}): Promise<BlkFrontend> {
    const fe = new BlkFrontend(path);
    try {
      await fe.handshake(options);
    } catch (e) {
      fe.close();
      throw e;
    }
    return fe;
  }

  get isPeerClosed(): boolean {
    return this.closedByPeer;
  }

  private async handshake(options: ConnectOptions): Promise<void> {
    const fe = this.fe;
    const offered = await fe.getFeatures();
    if (((offered >> BigInt(VhostFeature.PROTOCOL_FEATURES)) & 1n) === 0n) throw new Error('backend does not offer PROTOCOL_FEATURES');
    const protocol = await fe.getProtocolFeatures();
    this.protocolFeatures = protocol & protocolFeatureMask([ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK, ProtocolFeature.CONFIG]);
    await fe.setProtocolFeatures(this.protocolFeatures);
    this.queueNum = await fe.getQueueNum();
    await fe.setOwner();
    this.config = decodeBlockConfig(await fe.getConfig(0, 96));
    // Everything offered but packed rings (the split driver is used here).
    this.features = offered & ~(1n << 34n);
    await fe.setFeatures(this.features);
    await fe.setMemTable(this.shared);
    const queues = options.queues ?? this.queueNum;
    const eventIdx = ((this.features >> 29n) & 1n) === 1n;
    for (let index = 0; index < queues; index++) {
      this.rings.push(await fe.setupVring<number>(index, { memory: this.shared, size: RING_SIZE, address: RING_BASE + index * RING_STRIDE, eventIdx, enable: false }));
    }
    for (let index = 0; index < queues; index++) await fe.setVringEnable(index, true);
  }

  private alloc(len: number, limit = RAM_SIZE): number {
    const addr = this.nextData;
    this.nextData += Math.ceil(Math.max(len, 1) / 512) * 512;
    if (this.nextData > limit) throw new Error('test frontend: out of request memory');
    return addr;
  }

  /**
   * Runs one virtio-blk request on `queue`: header, then `out` data (device-readable) or `inLen`
   * bytes to receive (device-writable), then the status byte; kicks and waits for completion.
   */
  async request(queue: number, type: number, sector: bigint, out: Uint8Array | null, inLen: number): Promise<BlkResult> {
    const [r] = await this.batch(queue, [{ type, sector, out, inLen }]);
    return r!;
  }

  /** Puts several requests on `queue` at once, kicks once, and waits for all of them. */
  async batch(queue: number, requests: readonly BlkRequest[]): Promise<BlkResult[]> {
    const pending = this.submit(queue, requests);
    await until(
      () => {
        if (this.closedByPeer) throw new Error('backend closed the connection during a request');
        return pending.collect().every((r) => r !== undefined);
      },
      HANG_MS,
      `${requests.length} request(s) on queue ${queue}`,
    );
    return pending.collect() as BlkResult[];
  }

  /**
   * Puts requests on `queue` and kicks, without waiting. `collect()` takes the used buffers the
   * device has returned so far and gives each request's result (undefined while in flight).
   */
  submit(queue: number, requests: readonly BlkRequest[]): { collect(): (BlkResult | undefined)[] } {
    const ring = this.rings[queue];
    if (ring === undefined) throw new Error(`queue ${queue} was not set up`);
    // each queue allocates from its own share of the request memory: queues run side by side
    const share = Math.floor((RAM_SIZE - DATA_BASE) / Math.max(1, this.rings.length) / 512) * 512;
    this.nextData = DATA_BASE + queue * share;
    const limit = this.nextData + share;
    const slots: { data: number; len: number; status: number }[] = [];
    for (const [i, req] of requests.entries()) {
      const hdr = this.alloc(REQUEST_HEADER_SIZE, limit);
      this.ram.write(hdr, encodeRequestHeader({ type: req.type, sector: req.sector }));
      const len = req.out !== null ? req.out.length : req.inLen;
      const data = this.alloc(len, limit);
      if (req.out !== null) this.ram.write(data, req.out);
      else this.ram.fill(data, len, 0xee);
      const status = this.alloc(1, limit);
      this.ram.writeU8(status, 0xff);
      slots.push({ data, len, status });
      const outBufs = [{ addr: hdr, len: REQUEST_HEADER_SIZE }];
      const inBufs = [{ addr: status, len: 1 }];
      if (len > 0) {
        if (req.out !== null) outBufs.push({ addr: data, len });
        else inBufs.unshift({ addr: data, len });
      }
      if (ring.driver.add(outBufs, inBufs, i) < 0) throw new Error('ring full');
    }
    ring.kick();
    const results: (BlkResult | undefined)[] = new Array<BlkResult | undefined>(requests.length).fill(undefined);
    return {
      collect: () => {
        if (!this.released) {
          for (let u = ring.driver.getBuf(); u !== null; u = ring.driver.getBuf()) {
            const s = slots[u.token]!;
            const data = new Uint8Array(requests[u.token]!.out === null ? s.len : 0);
            if (data.length > 0) this.ram.read(s.data, data);
            results[u.token] = { status: this.ram.readU8(s.status), data, len: u.len };
          }
        }
        return results;
      },
    };
  }

  /** Reads `sectors` sectors at `sector`. */
  read(sector: number, sectors: number, queue = 0): Promise<BlkResult> {
    return this.request(queue, RequestType.IN, BigInt(sector), null, sectors * 512);
  }

  /** Writes `data` (a whole number of sectors) at `sector`. */
  write(sector: number, data: Uint8Array, queue = 0): Promise<BlkResult> {
    return this.request(queue, RequestType.OUT, BigInt(sector), data, 0);
  }

  /** FLUSH. */
  flush(queue = 0): Promise<BlkResult> {
    return this.request(queue, RequestType.FLUSH, 0n, null, 0);
  }

  /** GET_ID: the serial. */
  async getId(queue = 0): Promise<BlkResult> {
    return this.request(queue, RequestType.GET_ID, 0n, null, 20);
  }

  /** SET_MEM_TABLE again with the same guest memory (what QEMU sends when a memory region changes elsewhere). */
  async resendMemTable(): Promise<void> {
    await this.fe.setMemTable(this.shared);
  }

  /** GET_VRING_BASE for every ring (what QEMU sends when the VM stops). */
  async stopRings(): Promise<number[]> {
    const bases: number[] = [];
    for (const ring of this.rings) bases.push(await this.fe.getVringBase(ring.index));
    return bases;
  }

  /** Closes the connection and frees the rings and memory. */
  close(): void {
    if (this.released) return;
    this.released = true;
    this.fe.close();
    this.rings = [];
    this.shared.close();
  }
}
