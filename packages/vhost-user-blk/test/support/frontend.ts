/**
 * A small vhost-user-blk FRONTEND for the daemon tests, doing what QEMU 7.2's vhost-user-blk does
 * at start-up, over the real unix socket: guest RAM in a memfd passed with SCM_RIGHTS, real kick
 * and call eventfds, and @vmv/queue's split driver putting virtio-blk requests on the rings.
 */
import { decodeBlockConfig, encodeRequestHeader, REQUEST_HEADER_SIZE, RequestType, type BlockConfig } from '@vmv/block';
import { GuestMemory } from '@vmv/memory';
import { SplitDriver } from '@vmv/queue/driver';
import { EventFd, PollEvents, UnixStream, closeFd, memfdCreate, mmap, type FdWatcher, type Mapping } from '@vmv/sys';
import {
  ConfigFlags,
  ProtocolFeature,
  VhostFeature,
  VhostUserRequest as Q,
  decodeReply,
  encodeRequest,
  replyCarriesData,
  type DecodedReply,
  type VhostUserRequestMessage,
} from '@vmv/vhost-user/protocol';

/** Where QEMU would have mapped guest RAM in its own address space (any value works). */
const USER_BASE = 0x7f12_0000_0000n;
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

interface Waiter {
  readonly request: number;
  readonly resolve: (reply: DecodedReply) => void;
  readonly reject: (e: unknown) => void;
}

interface Ring {
  readonly index: number;
  readonly driver: SplitDriver<number>;
  readonly kick: EventFd;
  readonly call: EventFd;
}

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
  private readonly stream: UnixStream;
  private readonly watcher: FdWatcher;
  private readonly memfd: number;
  private readonly mapping: Mapping;
  private rx = new Uint8Array(0);
  private waiters: Waiter[] = [];
  private rings: Ring[] = [];
  private nextData = DATA_BASE;
  private closedByPeer = false;
  private released = false;
  /** Resolves when the backend closes the connection. */
  readonly peerClosed: Promise<void>;
  private markPeerClosed!: () => void;

  private constructor(stream: UnixStream) {
    this.stream = stream;
    this.memfd = memfdCreate('blk-test-ram', RAM_SIZE);
    this.mapping = mmap(this.memfd, RAM_SIZE);
    this.ram = GuestMemory.fromRegions([{ start: 0, backing: this.mapping.buffer, offset: 0, size: RAM_SIZE }]);
    this.peerClosed = new Promise((resolve) => (this.markPeerClosed = resolve));
    this.watcher = stream.watch(() => this.onReadable(), { events: PollEvents.READABLE });
  }

  /**
   * Connects and performs QEMU's start-up sequence: features, protocol features, queue count,
   * owner, config, memory table, then each ring (num, base, addr, kick, call, enable).
   */
  static async connect(path: string, options: ConnectOptions = {}): Promise<BlkFrontend> {
    const fe = new BlkFrontend(UnixStream.connect(path));
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

  private onReadable(): void {
    const chunk = new Uint8Array(8192);
    for (;;) {
      let got;
      try {
        got = this.stream.recvmsg(chunk);
      } catch {
        this.peerGone();
        return;
      }
      if (got === null) break;
      for (const fd of got.fds) closeFd(fd);
      if (got.bytesRead === 0) {
        this.peerGone();
        return;
      }
      const next = new Uint8Array(this.rx.length + got.bytesRead);
      next.set(this.rx);
      next.set(chunk.subarray(0, got.bytesRead), this.rx.length);
      this.rx = next;
    }
    while (this.rx.length >= 12) {
      const size = new DataView(this.rx.buffer, this.rx.byteOffset).getUint32(8, true);
      if (this.rx.length < 12 + size) break;
      const bytes = this.rx.slice(0, 12 + size);
      this.rx = this.rx.slice(12 + size);
      const w = this.waiters.shift();
      if (w === undefined) continue;
      try {
        w.resolve(decodeReply(bytes, w.request));
      } catch (e) {
        w.reject(e);
      }
    }
  }

  private peerGone(): void {
    if (this.closedByPeer) return;
    this.closedByPeer = true;
    try {
      this.watcher.close();
    } catch {
      // already closed
    }
    for (const w of this.waiters) w.reject(new Error('backend closed the connection'));
    this.waiters = [];
    this.markPeerClosed();
  }

  /** Sends a request; resolves with its reply when one is due (explicit reply or need_reply). */
  async send(msg: VhostUserRequestMessage): Promise<DecodedReply | null> {
    const { bytes, fds } = encodeRequest(msg);
    const replyDue = replyCarriesData(msg.request) || msg.needReply;
    const reply = replyDue
      ? new Promise<DecodedReply>((resolve, reject) => {
          this.waiters.push({ request: msg.request, resolve, reject });
          setTimeout(() => reject(new Error(`no reply to request ${msg.request} within ${HANG_MS} ms`)), HANG_MS).unref();
        })
      : null;
    this.stream.sendmsg(bytes, fds);
    return reply;
  }

  private async u64(request: typeof Q.GET_FEATURES | typeof Q.GET_PROTOCOL_FEATURES | typeof Q.GET_QUEUE_NUM): Promise<bigint> {
    const r = await this.send({ request, needReply: false });
    return r!.body.getBigUint64(0, true);
  }

  private async acked(msg: VhostUserRequestMessage): Promise<void> {
    const r = await this.send({ ...msg, needReply: true } as VhostUserRequestMessage);
    const v = r!.body.getBigUint64(0, true);
    if (v !== 0n) throw new Error(`request ${msg.request} refused (REPLY_ACK ${v})`);
  }

  private async handshake(options: ConnectOptions): Promise<void> {
    const offered = await this.u64(Q.GET_FEATURES);
    if (((offered >> BigInt(VhostFeature.PROTOCOL_FEATURES)) & 1n) === 0n) throw new Error('backend does not offer PROTOCOL_FEATURES');
    const protocol = await this.u64(Q.GET_PROTOCOL_FEATURES);
    const want = (1n << BigInt(ProtocolFeature.MQ)) | (1n << BigInt(ProtocolFeature.REPLY_ACK)) | (1n << BigInt(ProtocolFeature.CONFIG));
    this.protocolFeatures = protocol & want;
    await this.send({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: this.protocolFeatures });
    this.queueNum = Number(await this.u64(Q.GET_QUEUE_NUM));
    await this.send({ request: Q.SET_OWNER, needReply: false });
    const cfg = await this.send({ request: Q.GET_CONFIG, needReply: false, config: { offset: 0, size: 96, flags: ConfigFlags.WRITABLE, data: new Uint8Array(96) } });
    const body = new Uint8Array(cfg!.body.buffer, cfg!.body.byteOffset + 12, cfg!.body.byteLength - 12);
    this.config = decodeBlockConfig(body);
    // Everything offered but packed rings (the split driver is used here).
    this.features = offered & ~(1n << 34n);
    await this.send({ request: Q.SET_FEATURES, needReply: false, value: this.features });
    await this.acked({
      request: Q.SET_MEM_TABLE,
      needReply: true,
      regions: [{ guestPhysAddr: 0n, memorySize: BigInt(RAM_SIZE), userAddr: USER_BASE, mmapOffset: 0n }],
      fds: [this.memfd],
    });
    const queues = options.queues ?? this.queueNum;
    const eventIdx = ((this.features >> 29n) & 1n) === 1n;
    for (let index = 0; index < queues; index++) {
      const base = RING_BASE + index * RING_STRIDE;
      const layout = SplitDriver.layout(RING_SIZE, base);
      const driver = new SplitDriver<number>(this.ram, { size: RING_SIZE, descTable: layout.descTable, driverArea: layout.driverArea, deviceArea: layout.deviceArea, eventIdx });
      const ring: Ring = { index, driver, kick: new EventFd(), call: new EventFd() };
      this.rings.push(ring);
      await this.send({ request: Q.SET_VRING_NUM, needReply: false, index, num: RING_SIZE });
      await this.send({ request: Q.SET_VRING_BASE, needReply: false, index, num: 0 });
      await this.send({
        request: Q.SET_VRING_ADDR,
        needReply: false,
        addr: {
          index,
          flags: 0,
          descUserAddr: USER_BASE + BigInt(layout.descTable),
          usedUserAddr: USER_BASE + BigInt(layout.deviceArea),
          availUserAddr: USER_BASE + BigInt(layout.driverArea),
          logGuestAddr: 0n,
        },
      });
      await this.send({ request: Q.SET_VRING_KICK, needReply: false, index, fd: ring.kick.fd });
      await this.send({ request: Q.SET_VRING_CALL, needReply: false, index, fd: ring.call.fd });
    }
    for (let index = 0; index < queues; index++) await this.acked({ request: Q.SET_VRING_ENABLE, needReply: true, index, num: 1 });
  }

  private alloc(len: number): number {
    const addr = this.nextData;
    this.nextData += Math.ceil(Math.max(len, 1) / 512) * 512;
    if (this.nextData > RAM_SIZE) throw new Error('test frontend: out of request memory');
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
    this.nextData = DATA_BASE;
    const slots: { data: number; len: number; status: number }[] = [];
    for (const [i, req] of requests.entries()) {
      const hdr = this.alloc(REQUEST_HEADER_SIZE);
      this.ram.write(hdr, encodeRequestHeader({ type: req.type, sector: req.sector }));
      const len = req.out !== null ? req.out.length : req.inLen;
      const data = this.alloc(len);
      if (req.out !== null) this.ram.write(data, req.out);
      else this.ram.fill(data, len, 0xee);
      const status = this.alloc(1);
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
    if (ring.driver.kickPrepare()) ring.kick.write(1);
    const results: (BlkResult | undefined)[] = new Array<BlkResult | undefined>(requests.length).fill(undefined);
    return {
      collect: () => {
        if (!this.released) {
          ring.call.read();
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

  /** GET_VRING_BASE for every ring (what QEMU sends when the VM stops). */
  async stopRings(): Promise<number[]> {
    const bases: number[] = [];
    for (const ring of this.rings) {
      const r = await this.send({ request: Q.GET_VRING_BASE, needReply: false, index: ring.index, num: 0 });
      bases.push(r!.body.getUint32(4, true));
    }
    return bases;
  }

  /** Closes the connection and frees the rings and memory. */
  close(): void {
    if (this.released) return;
    this.released = true;
    if (!this.closedByPeer) {
      this.closedByPeer = true;
      try {
        this.watcher.close();
      } catch {
        // already closed
      }
    }
    try {
      this.stream.close();
    } catch {
      // already closed
    }
    for (const r of this.rings) {
      r.kick.close();
      r.call.close();
    }
    this.rings = [];
    this.mapping.close();
    closeFd(this.memfd);
  }
}
