/**
 * A small vhost-user FRONTEND for tests, speaking to the backend the way QEMU 7.2 does:
 * a real unix socket with SCM_RIGHTS, guest RAM in a memfd shared with the backend, real
 * eventfds for kick and call, and the @vmv/queue split driver putting buffers on the ring.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { GuestMemory } from '@vmv/memory';
import { SplitDriver } from '@vmv/queue/driver';
import { EventFd, PollEvents, UnixStream, closeFd, memfdCreate, mmap, type FdWatcher, type Mapping } from '@vmv/sys';
import {
  HeaderFlags,
  VhostUserRequest as Q,
  decodeReply,
  encodeRequest,
  replyCarriesData,
  type DecodedReply,
  type MemoryRegionDescription,
  type VhostUserRequestMessage,
} from '@vmv/vhost-user/protocol';

/**
 * How long a test waits for something that must happen (a reply, a used buffer, a disconnect)
 * before it reports a hang: far beyond what the slowest loaded machine needs, below jest's
 * 30 s test timeout so the failure names what did not happen.
 */
export const HANG_MS = 20_000;

export const USER_BASE = 0x7f00_0000_0000n;
export const HIGH_GPA = 0x1_0000_0000;

/** Guest RAM: one memfd split in two regions (low at GPA 0, high at 4 GiB), like QEMU's pc.ram. */
export class GuestRam {
  readonly fd: number;
  readonly mapping: Mapping;
  readonly memory: GuestMemory;
  readonly regions: MemoryRegionDescription[];

  constructor(readonly half = 1 << 20) {
    this.fd = memfdCreate('test-guest-ram', 2 * half);
    this.mapping = mmap(this.fd, 2 * half);
    const buf = this.mapping.buffer;
    this.memory = GuestMemory.fromRegions([
      { start: 0, backing: buf, offset: 0, size: half },
      { start: HIGH_GPA, backing: buf, offset: half, size: half },
    ]);
    this.regions = [
      { guestPhysAddr: 0n, memorySize: BigInt(half), userAddr: USER_BASE, mmapOffset: 0n },
      { guestPhysAddr: BigInt(HIGH_GPA), memorySize: BigInt(half), userAddr: USER_BASE + BigInt(half), mmapOffset: BigInt(half) },
    ];
  }

  /** The frontend virtual address of a guest physical address. */
  uaddr(gpa: number): bigint {
    return gpa >= HIGH_GPA ? USER_BASE + BigInt(this.half) + BigInt(gpa - HIGH_GPA) : USER_BASE + BigInt(gpa);
  }

  close(): void {
    this.mapping.close();
    closeFd(this.fd);
  }
}

interface Waiter {
  readonly request: number;
  readonly resolve: (r: { reply: DecodedReply; fds: number[] }) => void;
  readonly reject: (e: unknown) => void;
}

/** One connection to a backend. */
export class Frontend {
  readonly stream: UnixStream;
  private readonly watcher: FdWatcher;
  private buffer = new Uint8Array(0);
  private fds: number[] = [];
  private waiters: Waiter[] = [];
  private closedFlag = false;
  /** Resolves when the backend closes the connection. */
  readonly closed: Promise<void>;
  private markClosed!: () => void;

  constructor(path: string | UnixStream) {
    this.stream = typeof path === 'string' ? UnixStream.connect(path) : path;
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.watcher = this.stream.watch(() => this.onReadable(), { events: PollEvents.READABLE });
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  private onReadable(): void {
    const chunk = new Uint8Array(4096);
    for (;;) {
      let got;
      try {
        got = this.stream.recvmsg(chunk);
      } catch {
        this.finish();
        return;
      }
      if (got === null) break;
      if (got.bytesRead === 0) {
        this.finish();
        return;
      }
      this.fds.push(...got.fds);
      const next = new Uint8Array(this.buffer.length + got.bytesRead);
      next.set(this.buffer);
      next.set(chunk.subarray(0, got.bytesRead), this.buffer.length);
      this.buffer = next;
    }
    this.parse();
  }

  private parse(): void {
    while (this.buffer.length >= 12) {
      const size = new DataView(this.buffer.buffer, this.buffer.byteOffset).getUint32(8, true);
      if (this.buffer.length < 12 + size) return;
      const bytes = this.buffer.slice(0, 12 + size);
      this.buffer = this.buffer.slice(12 + size);
      const waiter = this.waiters.shift();
      const fds = this.fds;
      this.fds = [];
      if (waiter === undefined) {
        for (const fd of fds) closeFd(fd);
        continue;
      }
      try {
        waiter.resolve({ reply: decodeReply(bytes, waiter.request), fds });
      } catch (e) {
        waiter.reject(e);
      }
    }
  }

  private finish(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.watcher.close();
    for (const w of this.waiters) w.reject(new Error('backend closed the connection'));
    this.waiters = [];
    this.markClosed();
  }

  /** Registers interest in the next reply, which must answer `request`. */
  awaitReply(request: number): Promise<{ reply: DecodedReply; fds: number[] }> {
    return withTimeout(new Promise((resolve, reject) => this.waiters.push({ request, resolve, reject })), HANG_MS, `reply to request ${request}`);
  }

  /** Sends raw bytes (with fds). */
  sendRaw(bytes: Uint8Array, fds: readonly number[] = []): void {
    this.stream.sendmsg(bytes, fds);
  }

  /** Sends a request; resolves with the reply when one is expected (explicit or need_reply), else null. */
  async request(msg: VhostUserRequestMessage): Promise<{ reply: DecodedReply; fds: number[] } | null> {
    const { bytes, fds } = encodeRequest(msg);
    const expectsReply = replyCarriesData(msg.request) || msg.needReply;
    const pending = expectsReply
      ? new Promise<{ reply: DecodedReply; fds: number[] }>((resolve, reject) => this.waiters.push({ request: msg.request, resolve, reject }))
      : null;
    this.sendRaw(bytes, fds);
    return pending === null ? null : withTimeout(pending, HANG_MS, `reply to request ${msg.request}`);
  }

  /** A request answered with a u64. */
  async u64(msg: VhostUserRequestMessage): Promise<bigint> {
    const r = await this.request(msg);
    return r!.reply.body.getBigUint64(0, true);
  }

  /** A request with need_reply; resolves with the REPLY_ACK value (0n = success). */
  async ack(msg: VhostUserRequestMessage): Promise<bigint> {
    return this.u64({ ...msg, needReply: true } as VhostUserRequestMessage);
  }

  close(): void {
    this.finish();
    if (!this.stream.closed) this.stream.close();
  }
}

/** One ring set up by the frontend: driver, kick and call eventfds. */
export class TestRing<T = unknown> {
  readonly kick = new EventFd();
  readonly call = new EventFd();
  readonly driver: SplitDriver<T>;

  constructor(
    readonly index: number,
    readonly ram: GuestRam,
    readonly size: number,
    readonly areas: { desc: number; avail: number; used: number },
    eventIdx = false,
  ) {
    this.driver = new SplitDriver<T>(ram.memory, { size, descTable: areas.desc, driverArea: areas.avail, deviceArea: areas.used, eventIdx });
  }

  /** SET_VRING_NUM, BASE, ADDR, KICK, CALL as QEMU's vhost_virtqueue_start sends them. */
  async setup(fe: Frontend, base = 0): Promise<void> {
    const index = this.index;
    await fe.request({ request: Q.SET_VRING_NUM, needReply: false, index, num: this.size });
    await fe.request({ request: Q.SET_VRING_BASE, needReply: false, index, num: base });
    await fe.request({
      request: Q.SET_VRING_ADDR,
      needReply: false,
      addr: {
        index,
        flags: 0,
        descUserAddr: this.ram.uaddr(this.areas.desc),
        usedUserAddr: this.ram.uaddr(this.areas.used),
        availUserAddr: this.ram.uaddr(this.areas.avail),
        logGuestAddr: 0n,
      },
    });
    await fe.request({ request: Q.SET_VRING_KICK, needReply: false, index, fd: this.kick.fd });
    await fe.request({ request: Q.SET_VRING_CALL, needReply: false, index, fd: this.call.fd });
  }

  /** Waits until the call eventfd fires, failing after `ms` (a hang). */
  async waitCall(ms = HANG_MS): Promise<number> {
    const deadline = Date.now() + ms;
    for (;;) {
      const n = this.call.read();
      if (n !== null) return n;
      if (Date.now() > deadline) throw new Error(`ring ${this.index}: no call within ${ms} ms`);
      await sleep(1);
    }
  }

  close(): void {
    this.kick.close();
    this.call.close();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<T>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timeout waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until `cond()` holds, failing after `ms` (a hang). */
export async function until(cond: () => boolean, ms = HANG_MS, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`);
    await sleep(1);
  }
}

/** Open fds of this process. */
export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Open timerfds of this process. */
export function timerfdCount(): number {
  return readdirSync('/proc/self/fd').filter((f) => {
    try {
      return readlinkSync(`/proc/self/fd/${f}`) === 'anon_inode:[timerfd]';
    } catch {
      return false; // closed meanwhile (the listing's own fd)
    }
  }).length;
}

/** Mappings of a memfd name in this process. */
export function mappingCount(name: string): number {
  return readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes(`/memfd:${name}`)).length;
}

export const VERSION = HeaderFlags.VERSION;
