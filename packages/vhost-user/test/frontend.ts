/**
 * What the backend tests share: a wire-level peer ({@link Frontend}) for requests a real
 * frontend never sends, guest RAM split in two regions, rings with real eventfds, and the hang
 * bound. Tests of well-behaved flows use the public `@vmv/vhost-user/frontend`.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { GuestMemory } from '@vmv/memory';
import { SplitDriver } from '@vmv/queue/driver';
import { EventFd, UnixStream, closeFd, memfdCreate, mmap, type Mapping } from '@vmv/sys';
import {
  HeaderFlags,
  VhostUserRequest as Q,
  checkReply,
  encodeRequest,
  validateReplyHeader,
  replyCarriesData,
  type DecodedReply,
  type MemoryRegionDescription,
  type VhostUserRequestMessage,
} from '@vmv/vhost-user/protocol';
import { MessageChannel } from '@vmv/vhost-user/internal/channel/message-channel';

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

/**
 * A wire-level peer for the backend tests: sends any bytes a frontend could send (requests the
 * public `VhostUserFrontend` never would: unknown codes, wrong sizes, stray fds, messages split
 * byte by byte) and matches replies to them. Framing is the package's own channel (the one the
 * backend and the public frontend use); for a well-behaved frontend use `@vmv/vhost-user/frontend`.
 */
export class Frontend {
  readonly stream: UnixStream;
  private readonly channel: MessageChannel;
  private waiters: Waiter[] = [];
  private closedFlag = false;
  /** Resolves when the backend closes the connection. */
  readonly closed: Promise<void>;
  private markClosed!: () => void;

  constructor(path: string | UnixStream) {
    this.stream = typeof path === 'string' ? UnixStream.connect(path) : path;
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.channel = new MessageChannel(
      this.stream,
      {
        onMessage: (header, body, fds) => {
          const waiter = this.waiters.shift();
          if (waiter === undefined) {
            for (const fd of fds) closeFd(fd);
            return undefined;
          }
          try {
            const view = checkReply(header, body, [], waiter.request, undefined);
            waiter.resolve({ reply: { header, body: view }, fds });
          } catch (e) {
            waiter.reject(e);
          }
          return undefined;
        },
        failed: () => this.finish(),
      },
      validateReplyHeader,
    );
    this.channel.start();
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  private finish(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.channel.close();
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
    const pending = replyCarriesData(msg.request) || msg.needReply ? this.awaitReply(msg.request) : null;
    this.sendRaw(bytes, fds);
    return pending;
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
