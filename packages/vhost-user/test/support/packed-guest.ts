/**
 * The guest side of the packed-ring inflight tests, which outlives backends: shared memory, a
 * packed driver, the ring's eventfds and the inflight buffer QEMU keeps across reconnects. Each
 * request carries text whose upper-cased copy the device (UpperDevice) writes back; `reap` checks
 * every completion's bytes and that no request completes twice.
 */
import { expect } from '@jest/globals';
import { Feature, features } from '@vmv/device-trait';
import { PackedDriver } from '@vmv/queue/driver';
import { EventFd, closeFd } from '@vmv/sys';
import { SharedGuestMemory, VhostUserFrontend } from '@vmv/vhost-user/frontend';
import { ProtocolFeature, VhostUserRequest as Q, protocolFeatureMask, readInflight, type InflightDescription } from '@vmv/vhost-user/protocol';
import { HANG_MS } from '../frontend';

const PROTOCOL_FEATURES_BIT = 1n << 30n;
const WANTED = features(Feature.VERSION_1, Feature.INDIRECT_DESC, Feature.RING_PACKED) | PROTOCOL_FEATURES_BIT;
const RING = 0x1000;
const INDIRECT = 0x80000;
const REQ = 0x10000;
const RESP = 0x40000;
/** Bytes of each request and of each response. */
export const SLOT = 64;

/** The text of request `n`. */
export function payload(n: number): Uint8Array {
  return new TextEncoder().encode(`request ${n} `.repeat(8).slice(0, SLOT));
}

/** The number of the request whose text is `bytes`. */
export function requestNumber(bytes: Uint8Array): number {
  return Number(/request (\d+)/.exec(new TextDecoder().decode(bytes))![1]);
}

export class PackedGuest {
  readonly ram = SharedGuestMemory.create(1 << 20, { name: 'vu-inflight-packed' });
  readonly kick = new EventFd();
  readonly call = new EventFd();
  readonly driver: PackedDriver<number>;
  /** Completions per request number. */
  readonly done = new Map<number, number>();
  inflight: InflightDescription | null = null;
  inflightFd = -1;
  private readonly frontends: VhostUserFrontend[] = [];

  /** @param size - the ring size */
  constructor(readonly size: number) {
    const layout = PackedDriver.layout(size, RING);
    this.driver = new PackedDriver<number>(this.ram.memory, {
      size,
      ...layout,
      eventIdx: false,
      indirectDesc: true,
      indirectArea: { address: INDIRECT, entriesPerChain: 2 },
    });
  }

  /** Connects and sets the ring up as QEMU does after a (re)connect, with the kept inflight buffer. */
  async connect(path: string): Promise<VhostUserFrontend> {
    const fe = VhostUserFrontend.connect(path, { replyTimeoutMs: HANG_MS });
    this.frontends.push(fe);
    const offered = await fe.getFeatures();
    await fe.setOwner();
    await fe.setProtocolFeatures((await fe.getProtocolFeatures()) & protocolFeatureMask([ProtocolFeature.INFLIGHT_SHMFD, ProtocolFeature.REPLY_ACK]));
    await fe.setFeatures(offered & WANTED);
    if (this.inflight === null) {
      const r = await fe.request({ request: Q.GET_INFLIGHT_FD, needReply: false, inflight: { mmapSize: 0n, mmapOffset: 0n, numQueues: 1, queueSize: this.size } });
      this.inflight = readInflight(r!.body);
      this.inflightFd = r!.fds[0]!;
    }
    await fe.request({ request: Q.SET_INFLIGHT_FD, needReply: true, inflight: this.inflight, fd: this.inflightFd });
    await fe.setMemTable(this.ram);
    await fe.setVringNum(0, this.size);
    await fe.setVringBase(0, 0x8000); // position 0, wrap counters 1: what QEMU still holds after a backend crash
    await fe.setVringAddr(0, this.ram, PackedDriver.layout(this.size, RING));
    await fe.setVringFd('kick', 0, this.kick.fd);
    await fe.setVringFd('call', 0, this.call.fd);
    await fe.setVringEnable(0, true);
    return fe;
  }

  /** Request `n`: SLOT bytes of text out, SLOT bytes in; every third one through an indirect table. */
  submit(n: number): void {
    const slot = n % 256;
    this.ram.memory.write(REQ + slot * SLOT, payload(n));
    this.ram.memory.write(RESP + slot * SLOT, new Uint8Array(SLOT));
    this.driver.add([{ addr: REQ + slot * SLOT, len: SLOT }], [{ addr: RESP + slot * SLOT, len: SLOT }], n, n % 3 === 0);
    this.kick.write(1);
  }

  /** Takes every used buffer, checking its bytes and that its request was not completed before. */
  reap(): void {
    for (let u = this.driver.getBuf(); u !== null; u = this.driver.getBuf()) {
      const n = u.token;
      expect(this.done.has(n)).toBe(false);
      expect(u.len).toBe(SLOT);
      const want = payload(n).map((b) => (b >= 0x61 && b <= 0x7a ? b - 32 : b));
      expect(this.ram.memory.view(RESP + (n % 256) * SLOT, SLOT)).toEqual(want);
      this.done.set(n, (this.done.get(n) ?? 0) + 1);
    }
  }

  close(): void {
    for (const fe of this.frontends) fe.close();
    if (this.inflightFd >= 0) closeFd(this.inflightFd);
    this.inflightFd = -1;
    this.kick.close();
    this.call.close();
    this.ram.close();
  }
}
