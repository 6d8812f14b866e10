/**
 * vhost-user message sequences against a VhostUserBackend serving a BlockDevice, in process over
 * a socketpair (the backend's `serve(stream)` seam): each input is one connection carrying a
 * random sequence of requests (mostly the messages QEMU sends, in a mutated order with mutated
 * values, plus raw framed messages with stray fds), while hostile virtio-blk requests wait in guest
 * RAM for the device to poll them. The input ends when the frontend shuts its side and the
 * backend has dropped the connection. Failures the backend reports (request-failed events, the
 * disconnect reason) must be typed errors.
 *
 * Guest RAM is a memfd laid out as GuardedMemory (canary pages around two regions); the memory
 * table the frontend sends maps only the two regions, so a canary that changes, or shows up in
 * guest memory or on the disk, is an access outside guest memory. An input whose raw messages could
 * map other parts of the memfd (a raw SET_MEM_TABLE or ADD_MEM_REG with fds) skips that check. Every input
 * must also leave as many fds open as it found: a descriptor the backend kept after the connection ended
 * (a memory region, an eventfd, an inflight buffer, a stray fd) is reported as a crash.
 */
import { readdirSync } from 'node:fs';
import { BLOCK_ERROR_NAMES, BlockDevice, MemoryBackend } from '@vmv/block';
import { DEVICE_ERROR_NAMES } from '@vmv/device-trait';
import { GUEST_MEMORY_ERROR_NAMES } from '@vmv/memory';
import { QUEUE_ERROR_NAMES } from '@vmv/queue';
import { EventFd, SYS_ERROR_NAMES, UnixStream, closeFd, memfdCreate, mmap } from '@vmv/sys';
import { SUPPORTED_PROTOCOL_FEATURES, VHOST_USER_ERROR_NAMES, VhostUserBackend } from '@vmv/vhost-user';
import { VhostUserRequest as Q, encodeRequest } from '@vmv/vhost-user/protocol';
import { GUARD, GuardedMemory, guardedHostSize } from '../guarded.mjs';
import { writeRequests } from '../requests.mjs';

/** The process's open file descriptors. */
const openFds = () => readdirSync('/proc/self/fd').length;

const LOW = 0x10000;
const HIGH_GPA = 0x20000;
const HIGH = 0x4000;
const USER_BASE = 0x7f00_0000_0000n;
const DISK_BYTES = 64 << 10;
const VERSION_1 = 1n << 32n;
const PROTOCOL_FEATURES = 1n << 30n;

export const vhostUserSessionTarget = {
  name: 'vhost-user-session',
  description: 'random vhost-user message sequences against a VhostUserBackend (BlockDevice) over a socketpair',
  maxLen: 2048,
  allowed: new Set([...VHOST_USER_ERROR_NAMES, ...SYS_ERROR_NAMES, ...DEVICE_ERROR_NAMES, ...QUEUE_ERROR_NAMES, ...BLOCK_ERROR_NAMES, ...GUEST_MEMORY_ERROR_NAMES]),
  setup() {
    const size = guardedHostSize(LOW, HIGH);
    const memfd = memfdCreate('fuzz-guest-ram', size);
    const mapping = mmap(memfd, size);
    const g = new GuardedMemory(LOW, HIGH_GPA, HIGH, mapping.buffer);
    const disk = new MemoryBackend(DISK_BYTES);
    const device = new BlockDevice({ backend: disk, queueSize: 16 });
    const state = { g, disk, memfd, mapping, kick: new EventFd(), call: new EventFd(), device, listener: null };
    state.backend = new VhostUserBackend(device, {
      drainTimeoutMs: 20,
      backendRequestTimeoutMs: 50,
      pollIntervalMs: 1,
      onEvent: (e) => state.listener?.(e),
    });
    state.regions = [
      { guestPhysAddr: 0n, memorySize: BigInt(LOW), userAddr: USER_BASE, mmapOffset: BigInt(GUARD) },
      { guestPhysAddr: BigInt(HIGH_GPA), memorySize: BigInt(HIGH), userAddr: USER_BASE + 0x100000n, mmapOffset: BigInt(GUARD + LOW + GUARD) },
    ];
    return state;
  },
  teardown(state) {
    state.backend.close();
    state.mapping.close();
    closeFd(state.memfd);
    state.kick.close();
    state.call.close();
  },
  async run(state, src, report) {
    const { g, disk, regions } = state;
    const fdsBefore = openFds();
    g.clear();
    disk.data.fill(0);
    let guarded = true;
    const before = { ...state.device.stats };
    const offered = state.backend.offeredFeatures;
    const uaddr = (gpa) => (gpa >= HIGH_GPA ? regions[1].userAddr + BigInt(gpa - HIGH_GPA) : USER_BASE + BigInt(gpa));
    const size = 1 << src.below(5);
    const packed = src.u8() < 48;
    writeRequests(src, g, { packed, size, desc: 0, driver: 0x400, indirect: src.bool() }, DISK_BYTES / 512);
    const index = () => (src.u8() < 240 ? 0 : src.u8());
    const fd = (pool) => (src.u8() < 32 ? null : pool);
    // QEMU's order of a vhost-user-blk start, as the usual skeleton of a sequence
    const canonical = [
      () => ({ request: Q.GET_FEATURES, needReply: false }),
      () => ({ request: Q.GET_PROTOCOL_FEATURES, needReply: false }),
      () => ({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: src.u8() < 200 ? SUPPORTED_PROTOCOL_FEATURES : src.u64() & SUPPORTED_PROTOCOL_FEATURES }),
      () => ({ request: Q.SET_OWNER, needReply: false }),
      () => ({ request: Q.GET_CONFIG, needReply: false, config: { offset: src.u8() < 200 ? 0 : src.below(0x100), size: 1 + src.below(60), flags: 0, data: null } }),
      () => ({ request: Q.SET_FEATURES, needReply: src.bool(), value: src.u8() < 200 ? (offered & (src.u8() < 128 ? offered : src.u64()) & (packed ? -1n : ~(1n << 34n))) | VERSION_1 | PROTOCOL_FEATURES : src.u64() }),
      () => ({ request: Q.SET_MEM_TABLE, needReply: src.bool(), regions: src.u8() < 200 ? regions : [regions[src.below(2)]], fds: null }),
      () => ({ request: Q.SET_VRING_NUM, needReply: src.bool(), index: index(), num: src.u8() < 200 ? size : src.u16() }),
      () => ({ request: Q.SET_VRING_BASE, needReply: src.bool(), index: index(), num: src.u8() < 200 ? 0 : src.u16() }),
      () => ({
        request: Q.SET_VRING_ADDR,
        needReply: src.bool(),
        addr: { index: index(), flags: 0, descUserAddr: uaddr(src.u8() < 200 ? 0 : 16 * src.below(0x1000)), availUserAddr: uaddr(src.u8() < 200 ? 0x400 : 2 * src.below(0x8000)), usedUserAddr: uaddr(src.u8() < 200 ? 0x800 : 4 * src.below(0x4000)), logGuestAddr: 0n },
      }),
      () => ({ request: Q.SET_VRING_KICK, needReply: src.bool(), index: index(), fd: fd(state.kick.fd) }),
      () => ({ request: Q.SET_VRING_CALL, needReply: src.bool(), index: index(), fd: fd(state.call.fd) }),
      () => ({ request: Q.SET_VRING_ENABLE, needReply: src.bool(), index: index(), num: src.u8() < 220 ? 1 : src.below(3) }),
      () => ({ request: Q.SET_STATUS, needReply: src.bool(), value: BigInt(src.pick([0xf, 0xb, 0, 0x40, 0x80, 3])) }),
    ];
    const extra = [
      () => ({ request: Q.GET_VRING_BASE, needReply: false, index: index(), num: 0 }),
      () => ({ request: src.pick([Q.GET_QUEUE_NUM, Q.RESET_DEVICE, Q.GET_MAX_MEM_SLOTS, Q.GET_STATUS, Q.RESET_OWNER]), needReply: src.bool() }),
      () => ({ request: Q.SET_CONFIG, needReply: src.bool(), config: { offset: src.below(0x40), size: 1 + src.below(8), flags: src.below(2), data: null } }),
      () => ({ request: Q.ADD_MEM_REG, needReply: true, region: regions[src.below(2)], fd: state.memfd }),
      () => ({ request: Q.REM_MEM_REG, needReply: true, region: regions[src.below(2)], fd: null }),
    ];
    const messages = [];
    const count = src.u8() < 128 ? 14 + src.below(10) : 1 + src.below(24);
    let step = 0;
    for (let i = 0; i < count; i++) {
      const pickKind = src.u8();
      let msg;
      if (pickKind < 170) msg = canonical[step++ % canonical.length]();
      else if (pickKind < 220) msg = src.pick(extra)();
      else {
        // a raw framed message with stray fds
        const request = src.u8() < 200 ? src.below(42) : src.u32();
        const body = src.take(src.pick([0, 8, 16, 24, 40, src.below(300)]));
        const bytes = new Uint8Array(12 + body.length);
        const v = new DataView(bytes.buffer);
        v.setUint32(0, request >>> 0, true);
        v.setUint32(4, src.u8() < 200 ? 1 : src.u32(), true);
        v.setUint32(8, src.u8() < 240 ? body.length : src.u32(), true);
        bytes.set(body, 12);
        const fds = Array.from({ length: src.u8() < 200 ? 0 : src.below(4) }, () => src.pick([state.memfd, state.kick.fd, state.call.fd]));
        if (fds.length > 0 && (request === Q.SET_MEM_TABLE || request === Q.ADD_MEM_REG)) guarded = false;
        messages.push({ bytes, fds });
        continue;
      }
      if (msg.request === Q.SET_MEM_TABLE) msg = { ...msg, fds: msg.regions.map(() => state.memfd) };
      if (msg.config) {
        const data = msg.request === Q.SET_CONFIG ? src.take(msg.config.size) : new Uint8Array(msg.config.size);
        msg = { ...msg, config: { ...msg.config, data } };
      }
      messages.push(encodeRequest(msg));
    }
    const [mine, theirs] = UnixStream.pair();
    const ended = new Promise((resolve) => {
      state.listener = (e) => {
        report.feature(`event:${e.type}`);
        if ('error' in e && e.error !== undefined) report.error(e.error);
        if ('reason' in e && e.reason !== undefined && typeof e.reason !== 'string') report.error(e.reason);
        if (e.type === 'disconnected') resolve();
      };
    });
    state.backend.serve(theirs);
    const reply = new Uint8Array(4096);
    const drainReplies = () => {
      for (;;) {
        let got;
        try {
          got = mine.recvmsg(reply);
        } catch {
          return;
        }
        if (got === null || got.bytesRead === 0) return;
        for (const f of got.fds) closeFd(f);
      }
    };
    for (const m of messages) {
      try {
        mine.sendmsg(m.bytes, m.fds);
      } catch {
        break; // the backend dropped the connection already
      }
      drainReplies();
      if (src.u8() < 16) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    // Let the device poll the rings a little, then hang up and wait for the backend to let go.
    await new Promise((resolve) => setImmediate(resolve));
    try {
      mine.shutdown('write');
    } catch {
      // already gone
    }
    const poll = setInterval(drainReplies, 1);
    await ended;
    clearInterval(poll);
    drainReplies();
    mine.close();
    state.listener = null;
    await state.device.drain();
    for (const [k, v] of Object.entries(state.device.stats)) if (typeof v === 'number' && v > before[k]) report.feature(`stat:${k}:${Math.min(v - before[k], 4)}`);
    // every fd the connection received (memory, eventfds, inflight, stray ones) is closed once it has ended:
    // a leak is a crash
    const fdsAfter = openFds();
    if (fdsAfter > fdsBefore) throw new Error(`fd leak: ${fdsAfter} fds open after the connection ended, ${fdsBefore} before it`);
    return guarded ? g.check([disk.data]) : null;
  },
};
