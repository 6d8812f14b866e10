import { describe, expect, it } from '@jest/globals';
import {
  HeaderFlags,
  ProtocolFeature,
  VhostFeature,
  VhostUserRequest as Q,
  decodeHeader,
  decodeMessage,
  decodeRequest,
  encodeMessage,
  encodeRequest,
  isVhostUserError,
  protocolFeatureMask,
  type VhostUserErrorName,
  type VhostUserRequestMessage,
} from '@vmv/vhost-user/protocol';
import { context, hex } from './helpers';

const V = HeaderFlags.VERSION;

function u64(value: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, value, true);
  return b;
}
function state(index: number, num: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, index, true);
  v.setUint32(4, num, true);
  return b;
}
function expectError(fn: () => unknown, name: VhostUserErrorName): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  if (!isVhostUserError(caught, name)) {
    throw new Error(`expected ${name}, got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught)}`);
  }
}
function decode(request: number, payload: Uint8Array, fds: number[] = [], ctx = context(), flags: number = V) {
  return decodeMessage(encodeMessage(request, flags, payload), fds, ctx);
}
function roundTrip(msg: VhostUserRequestMessage, ctx = context()) {
  const { bytes, fds } = encodeRequest(msg);
  return decodeMessage(bytes, fds, ctx);
}

describe('item 45: header', () => {
  it('accepts a valid header and need_reply', () => {
    expect(decodeHeader(hex('01000000 09000000 00000000'))).toEqual({ request: 1, flags: 9, size: 0 });
  });
  it('rejects a short header', () => {
    expectError(() => decodeHeader(hex('01000000 01000000 000000')), 'VhostUser.PartialMessageError');
  });
  it('rejects unknown codes (0, 41, huge)', () => {
    for (const code of ['00000000', '29000000', 'ffffffff']) {
      expectError(() => decodeHeader(hex(`${code} 01000000 00000000`)), 'VhostUser.UnknownRequestError');
    }
  });
  it('rejects a payload size above 0x1000 and accepts exactly 0x1000', () => {
    expectError(() => decodeHeader(hex('01000000 01000000 01100000')), 'VhostUser.OversizedMessageError');
    expect(decodeHeader(hex('01000000 01000000 00100000')).size).toBe(0x1000);
  });
  it('rejects versions 0, 2 and 3', () => {
    for (const f of ['00000000', '02000000', '03000000']) {
      expectError(() => decodeHeader(hex(`01000000 ${f} 00000000`)), 'VhostUser.VersionError');
    }
  });
  it('rejects reserved flag bits and the reply bit on a request', () => {
    expectError(() => decodeHeader(hex('01000000 11000000 00000000')), 'VhostUser.InvalidFlagsError');
    expectError(() => decodeHeader(hex('01000000 01000080 00000000')), 'VhostUser.InvalidFlagsError');
    expectError(() => decodeHeader(hex('01000000 05000000 00000000')), 'VhostUser.InvalidFlagsError');
  });
  it('decodeRequest re-validates a header given as an object', () => {
    expectError(() => decodeRequest({ request: 1, flags: 2, size: 0 }, new Uint8Array(0), [], context()), 'VhostUser.VersionError');
    expect(() => decodeRequest({ request: 1.5, flags: 1, size: 0 }, new Uint8Array(0), [], context())).toThrow(RangeError);
  });
  it('reports a truncated payload and trailing bytes', () => {
    expectError(() => decodeMessage(hex('02000000 01000000 08000000 00000000'), [], context()), 'VhostUser.PartialMessageError');
    expectError(() => decodeMessage(hex('01000000 01000000 00000000 00'), [], context()), 'VhostUser.BodySizeError');
  });
});

describe('item 46: exact payload sizes', () => {
  const cases: [number, number][] = [
    [Q.GET_FEATURES, 0], [Q.SET_FEATURES, 8], [Q.SET_OWNER, 0], [Q.RESET_OWNER, 0], [Q.SET_VRING_NUM, 8],
    [Q.SET_VRING_ADDR, 40], [Q.SET_VRING_BASE, 8], [Q.GET_VRING_BASE, 8], [Q.SET_VRING_CALL, 8],
    [Q.GET_PROTOCOL_FEATURES, 0], [Q.SET_PROTOCOL_FEATURES, 8], [Q.GET_QUEUE_NUM, 0], [Q.SET_VRING_ENABLE, 8],
    [Q.GET_INFLIGHT_FD, 24], [Q.RESET_DEVICE, 0], [Q.GET_MAX_MEM_SLOTS, 0], [Q.ADD_MEM_REG, 40],
    [Q.REM_MEM_REG, 40], [Q.SET_STATUS, 8], [Q.GET_STATUS, 0],
  ];
  for (const [request, size] of cases) {
    it(`request ${request} needs exactly ${size} bytes`, () => {
      const fds = request === Q.ADD_MEM_REG ? [7] : [];
      expectError(() => decode(request, new Uint8Array(size + 4), fds), 'VhostUser.BodySizeError');
      if (size > 0) expectError(() => decode(request, new Uint8Array(size - 1), fds), 'VhostUser.BodySizeError');
    });
  }
});

describe('item 47: file descriptors', () => {
  it('refuses fds on requests that take none', () => {
    expectError(() => decode(Q.GET_FEATURES, new Uint8Array(0), [5]), 'VhostUser.IncorrectFdsError');
    expectError(() => decode(Q.SET_VRING_NUM, state(0, 128), [5]), 'VhostUser.IncorrectFdsError');
    expectError(() => decode(Q.GET_CONFIG, hex('00000000 01000000 00000000 00'), [5]), 'VhostUser.IncorrectFdsError');
  });
  it('refuses more than 32 fds on any request', () => {
    const fds = Array.from({ length: 33 }, (_, i) => i + 3);
    expectError(() => decode(Q.GET_FEATURES, new Uint8Array(0), fds), 'VhostUser.IncorrectFdsError');
  });
  it('requires exactly one fd on SET_LOG_FD-like and inflight/add requests', () => {
    expectError(() => decode(Q.ADD_MEM_REG, new Uint8Array(40), []), 'VhostUser.IncorrectFdsError');
    expectError(() => decode(Q.ADD_MEM_REG, new Uint8Array(40), [1, 2]), 'VhostUser.IncorrectFdsError');
    expectError(() => decode(Q.SET_INFLIGHT_FD, new Uint8Array(24), []), 'VhostUser.IncorrectFdsError');
  });
  it('REM_MEM_REG accepts zero fds (QEMU 7.1+) or one (QEMU 5.1-7.0) and hands the stray fd back', () => {
    const region = { guestPhysAddr: 0n, memorySize: 0x1000n, userAddr: 0x1000n, mmapOffset: 0n };
    const m = roundTrip({ request: Q.REM_MEM_REG, needReply: false, region, fd: 9 });
    expect(m).toEqual({ request: Q.REM_MEM_REG, needReply: false, region, fd: 9 });
    expectError(() => decode(Q.REM_MEM_REG, encodeRequest({ request: Q.REM_MEM_REG, needReply: false, region, fd: null }).bytes.subarray(12), [1, 2]), 'VhostUser.IncorrectFdsError');
  });
});

describe('item 48: SET_MEM_TABLE', () => {
  const region = (gpa: bigint, size: bigint, uaddr = 0x7f00_0000_0000n + gpa, off = 0n) => ({
    guestPhysAddr: gpa, memorySize: size, userAddr: uaddr, mmapOffset: off,
  });
  const table = (regions: ReturnType<typeof region>[], fds = regions.map((_, i) => 10 + i)) =>
    encodeRequest({ request: Q.SET_MEM_TABLE, needReply: false, regions, fds });

  it('accepts one to 32 sorted regions with one fd each', () => {
    const regions = Array.from({ length: 32 }, (_, i) => region(BigInt(i) * 0x10000n, 0x10000n));
    const { bytes, fds } = table(regions);
    const m = decodeMessage(bytes, fds, context());
    expect(m.request === Q.SET_MEM_TABLE && m.regions.length).toBe(32);
  });
  it('rejects zero regions, 33 regions and nonzero padding', () => {
    expectError(() => decode(Q.SET_MEM_TABLE, hex('00000000 00000000')), 'VhostUser.InvalidMemoryRegionError');
    const many = Array.from({ length: 33 }, (_, i) => region(BigInt(i) * 0x10000n, 0x10000n));
    const bytes = table(many, []).bytes;
    expectError(() => decodeMessage(bytes, Array.from({ length: 32 }, (_, i) => i), context()), 'VhostUser.InvalidMemoryRegionError');
    const padded = table([region(0n, 0x1000n)]).bytes;
    padded[16] = 1;
    expectError(() => decodeMessage(padded, [3], context()), 'VhostUser.InvalidMemoryRegionError');
  });
  it('rejects a size that disagrees with the region count', () => {
    const { bytes } = table([region(0n, 0x1000n), region(0x1000n, 0x1000n)]);
    bytes[12] = 1; // claims 1 region, carries 2
    expectError(() => decodeMessage(bytes, [3], context()), 'VhostUser.InvalidMemoryRegionError');
  });
  it('requires exactly one fd per region', () => {
    const { bytes } = table([region(0n, 0x1000n), region(0x1000n, 0x1000n)]);
    expectError(() => decodeMessage(bytes, [3], context()), 'VhostUser.IncorrectFdsError');
    expectError(() => decodeMessage(bytes, [3, 4, 5], context()), 'VhostUser.IncorrectFdsError');
  });
  it('rejects zero-sized and wrapping regions (guest, user and file ranges)', () => {
    const M = (1n << 64n) - 0x1000n;
    for (const bad of [region(0n, 0n), region(M, 0x2000n, 0n), region(0n, 0x2000n, M), region(0n, 0x2000n, 0n, M)]) {
      const { bytes, fds } = table([bad]);
      expectError(() => decodeMessage(bytes, fds, context()), 'VhostUser.InvalidMemoryRegionError');
    }
    const edge = table([region(M, 0x1000n, 0n)]);
    expect(() => decodeMessage(edge.bytes, edge.fds, context())).not.toThrow();
  });
  it('rejects unsorted and overlapping regions', () => {
    const unsorted = table([region(0x10000n, 0x1000n), region(0n, 0x1000n)]);
    expectError(() => decodeMessage(unsorted.bytes, unsorted.fds, context()), 'VhostUser.InvalidMemoryRegionError');
    const overlap = table([region(0n, 0x2000n), region(0x1000n, 0x1000n)]);
    expectError(() => decodeMessage(overlap.bytes, overlap.fds, context()), 'VhostUser.InvalidMemoryRegionError');
    const adjacent = table([region(0n, 0x1000n), region(0x1000n, 0x1000n)]);
    expect(() => decodeMessage(adjacent.bytes, adjacent.fds, context())).not.toThrow();
  });
  it('applies the region rules to ADD_MEM_REG, and to REM_MEM_REG without the mmap offset', () => {
    const add = encodeRequest({ request: Q.ADD_MEM_REG, needReply: false, region: region(0n, 0n), fd: 3 });
    expectError(() => decodeMessage(add.bytes, add.fds, context()), 'VhostUser.InvalidMemoryRegionError');
    const rem = encodeRequest({ request: Q.REM_MEM_REG, needReply: false, region: region(0n, 0x1000n, 0n, (1n << 64n) - 1n), fd: null });
    expect(() => decodeMessage(rem.bytes, [], context())).not.toThrow();
  });
});

describe('item 49: SET_VRING_ADDR', () => {
  const addr = { index: 0, flags: 0, descUserAddr: 0x1000n, usedUserAddr: 0x3000n, availUserAddr: 0x2000n, logGuestAddr: 0n };
  const req = (a: typeof addr) => ({ request: Q.SET_VRING_ADDR, needReply: false, addr: a }) as const;
  it('accepts minimal alignments (16/2/4)', () => {
    expect(roundTrip(req({ ...addr, descUserAddr: 0x10n, availUserAddr: 0x2n, usedUserAddr: 0x4n }))).toEqual(
      req({ ...addr, descUserAddr: 0x10n, availUserAddr: 0x2n, usedUserAddr: 0x4n }),
    );
  });
  it('rejects misaligned rings', () => {
    for (const bad of [{ descUserAddr: 0x1008n }, { availUserAddr: 0x2001n }, { usedUserAddr: 0x3002n }]) {
      expectError(() => roundTrip(req({ ...addr, ...bad })), 'VhostUser.InvalidVringAddrError');
    }
  });
  it('rejects unknown flags, and LOG without VHOST_F_LOG_ALL', () => {
    expectError(() => roundTrip(req({ ...addr, flags: 2 })), 'VhostUser.InvalidVringAddrError');
    expectError(() => roundTrip(req({ ...addr, flags: 1 })), 'VhostUser.InvalidVringAddrError');
    const logCtx = context({ offeredFeatures: (1n << 26n) | (1n << 30n), ackedFeatures: (1n << 26n) | (1n << 30n) });
    expect(roundTrip(req({ ...addr, flags: 1 }), logCtx)).toEqual(req({ ...addr, flags: 1 }));
  });
  it('checks the index', () => {
    expectError(() => roundTrip(req({ ...addr, index: 1 })), 'VhostUser.InvalidVringIndexError');
  });
});

describe('item 50: vring index and SET_VRING_NUM', () => {
  it('bounds every vring request by the queue count', () => {
    const ctx = context({ queueCount: 2 });
    for (const request of [Q.SET_VRING_NUM, Q.SET_VRING_BASE, Q.GET_VRING_BASE, Q.SET_VRING_ENABLE]) {
      expect(() => decode(request, state(1, 1), [], ctx)).not.toThrow();
      expectError(() => decode(request, state(2, 1), [], ctx), 'VhostUser.InvalidVringIndexError');
      expectError(() => decode(request, state(0xffff_ffff, 1), [], ctx), 'VhostUser.InvalidVringIndexError');
    }
  });
  it('requires 1 ≤ num ≤ max queue size and a power of two for split rings', () => {
    expect(decode(Q.SET_VRING_NUM, state(0, 256))).toEqual({ request: Q.SET_VRING_NUM, needReply: false, index: 0, num: 256 });
    expectError(() => decode(Q.SET_VRING_NUM, state(0, 0)), 'VhostUser.InvalidParamError');
    expectError(() => decode(Q.SET_VRING_NUM, state(0, 512)), 'VhostUser.InvalidParamError');
    expectError(() => decode(Q.SET_VRING_NUM, state(0, 100)), 'VhostUser.InvalidParamError');
    const packed = context({ offeredFeatures: 1n << 34n, ackedFeatures: 1n << 34n });
    expect(() => decode(Q.SET_VRING_NUM, state(0, 100), [], packed)).not.toThrow();
  });
  it('requires a u16 base for split rings', () => {
    expect(() => decode(Q.SET_VRING_BASE, state(0, 0xffff))).not.toThrow();
    expectError(() => decode(Q.SET_VRING_BASE, state(0, 0x10000)), 'VhostUser.InvalidParamError');
  });
});

describe('item 51: SET_VRING_KICK/CALL/ERR', () => {
  for (const request of [Q.SET_VRING_KICK, Q.SET_VRING_CALL, Q.SET_VRING_ERR]) {
    it(`request ${request}: bit 8 must match the fd`, () => {
      expect(decode(request, u64(0n), [7])).toEqual({ request, needReply: false, index: 0, fd: 7 });
      expect(decode(request, u64(0x100n), [])).toEqual({ request, needReply: false, index: 0, fd: null });
      expectError(() => decode(request, u64(0n), []), 'VhostUser.IncorrectFdsError');
      expectError(() => decode(request, u64(0x100n), [7]), 'VhostUser.IncorrectFdsError');
    });
    it(`request ${request}: index bounded, reserved bits clear`, () => {
      expectError(() => decode(request, u64(1n), [7]), 'VhostUser.InvalidVringIndexError');
      expectError(() => decode(request, u64(0x200n), [7]), 'VhostUser.InvalidParamError');
      expectError(() => decode(request, u64(1n << 63n), [7]), 'VhostUser.InvalidParamError');
    });
  }
});

describe('item 52: SET_VRING_ENABLE', () => {
  it('accepts 0 and 1 only', () => {
    expect(decode(Q.SET_VRING_ENABLE, state(0, 0))).toMatchObject({ num: 0 });
    expect(decode(Q.SET_VRING_ENABLE, state(0, 1))).toMatchObject({ num: 1 });
    expectError(() => decode(Q.SET_VRING_ENABLE, state(0, 2)), 'VhostUser.InvalidParamError');
  });
  it('requires VHOST_USER_F_PROTOCOL_FEATURES acked', () => {
    expectError(() => decode(Q.SET_VRING_ENABLE, state(0, 1), [], context({ ackedFeatures: 0n })), 'VhostUser.InactiveOperationError');
  });
});

describe('item 53: feature subsets', () => {
  it('SET_FEATURES must ack a subset of the offer', () => {
    expect(decode(Q.SET_FEATURES, u64(1n << 32n))).toEqual({ request: Q.SET_FEATURES, needReply: false, value: 1n << 32n });
    expectError(() => decode(Q.SET_FEATURES, u64(1n << 33n)), 'VhostUser.UnsupportedFeaturesError');
  });
  it('SET_PROTOCOL_FEATURES must ack a subset of the offer', () => {
    expectError(() => decode(Q.SET_PROTOCOL_FEATURES, u64(1n << 1n)), 'VhostUser.UnsupportedFeaturesError');
  });
  it('INBAND_NOTIFICATIONS without BACKEND_REQ and REPLY_ACK is refused', () => {
    const all = protocolFeatureMask(Object.values(ProtocolFeature));
    const ctx = context({ offeredProtocolFeatures: all });
    const inband = 1n << BigInt(ProtocolFeature.INBAND_NOTIFICATIONS);
    expectError(() => decode(Q.SET_PROTOCOL_FEATURES, u64(inband), [], ctx), 'VhostUser.InvalidParamError');
    const ok = inband | protocolFeatureMask([ProtocolFeature.BACKEND_REQ, ProtocolFeature.REPLY_ACK]);
    expect(() => decode(Q.SET_PROTOCOL_FEATURES, u64(ok), [], ctx)).not.toThrow();
  });
  it('GET/SET_PROTOCOL_FEATURES need the PROTOCOL_FEATURES bit in the offer', () => {
    const ctx = context({ offeredFeatures: 1n << 32n });
    expectError(() => decode(Q.GET_PROTOCOL_FEATURES, new Uint8Array(0), [], ctx), 'VhostUser.InactiveOperationError');
  });
});

describe('item 54: GET/SET_CONFIG', () => {
  const cfg = (offset: number, size: number, flags: number, payload = size) => {
    const b = new Uint8Array(12 + payload);
    const v = new DataView(b.buffer);
    v.setUint32(0, offset, true);
    v.setUint32(4, size, true);
    v.setUint32(8, flags, true);
    return b;
  };
  for (const request of [Q.GET_CONFIG, Q.SET_CONFIG]) {
    it(`request ${request}: size, bounds, flags`, () => {
      expect(decode(request, cfg(0, 256, 0))).toMatchObject({ config: { offset: 0, size: 256, flags: 0 } });
      expect(decode(request, cfg(0x1000 - 4, 4, 1))).toMatchObject({ config: { offset: 0xffc, size: 4, flags: 1 } });
      expectError(() => decode(request, cfg(0, 0, 0)), 'VhostUser.InvalidConfigError');
      expectError(() => decode(request, cfg(0x1000 - 3, 4, 0)), 'VhostUser.InvalidConfigError');
      expectError(() => decode(request, cfg(0xffff_ffff, 4, 0)), 'VhostUser.InvalidConfigError');
      expectError(() => decode(request, cfg(0, 4, 2)), 'VhostUser.InvalidConfigError');
      expectError(() => decode(request, cfg(0, 4, 0, 5)), 'VhostUser.InvalidConfigError');
      expectError(() => decode(request, cfg(0, 4, 0, 3)), 'VhostUser.InvalidConfigError');
      expectError(() => decode(request, new Uint8Array(8)), 'VhostUser.InvalidConfigError');
    });
  }
  it('copies the data out of the receive buffer', () => {
    const bytes = encodeMessage(Q.SET_CONFIG, V, cfg(0, 2, 0));
    const m = decodeMessage(bytes, [], context());
    bytes[12 + 12] = 0xaa;
    expect(m.request === Q.SET_CONFIG && m.config.data[0]).toBe(0);
  });
});

describe('item 55: inflight and log descriptions', () => {
  const inflight = (mmapSize: bigint, mmapOffset: bigint, numQueues: number, queueSize: number) => {
    const b = new Uint8Array(24);
    const v = new DataView(b.buffer);
    v.setBigUint64(0, mmapSize, true);
    v.setBigUint64(8, mmapOffset, true);
    v.setUint16(16, numQueues, true);
    v.setUint16(18, queueSize, true);
    return b;
  };
  it('GET_INFLIGHT_FD: queue count and size nonzero and within the device', () => {
    expect(() => decode(Q.GET_INFLIGHT_FD, inflight(0n, 0n, 1, 128))).not.toThrow();
    expectError(() => decode(Q.GET_INFLIGHT_FD, inflight(0n, 0n, 0, 128)), 'VhostUser.InvalidInflightError');
    expectError(() => decode(Q.GET_INFLIGHT_FD, inflight(0n, 0n, 2, 128)), 'VhostUser.InvalidInflightError');
    expectError(() => decode(Q.GET_INFLIGHT_FD, inflight(0n, 0n, 1, 0)), 'VhostUser.InvalidInflightError');
    expectError(() => decode(Q.GET_INFLIGHT_FD, inflight(0n, 0n, 1, 512)), 'VhostUser.InvalidInflightError');
  });
  it('SET_INFLIGHT_FD: also a nonzero, non-wrapping mapping', () => {
    expect(() => decode(Q.SET_INFLIGHT_FD, inflight(4096n, 0n, 1, 128), [3])).not.toThrow();
    expectError(() => decode(Q.SET_INFLIGHT_FD, inflight(0n, 0n, 1, 128), [3]), 'VhostUser.InvalidInflightError');
    expectError(() => decode(Q.SET_INFLIGHT_FD, inflight(4096n, (1n << 64n) - 1n, 1, 128), [3]), 'VhostUser.InvalidInflightError');
  });
  it('SET_LOG_BASE: gated on LOG_ALL, fd with LOG_SHMFD, nonzero non-wrapping size', () => {
    const log = (size: bigint, off: bigint) => new Uint8Array([...u64(size), ...u64(off)]);
    expectError(() => decode(Q.SET_LOG_BASE, log(0x1000n, 0n)), 'VhostUser.InactiveOperationError');
    const offered = (1n << BigInt(VhostFeature.LOG_ALL)) | (1n << 30n);
    const shm = context({ offeredFeatures: offered, offeredProtocolFeatures: 2n, ackedProtocolFeatures: 2n });
    expect(decode(Q.SET_LOG_BASE, log(0x1000n, 0n), [4], shm)).toMatchObject({ fd: 4 });
    expectError(() => decode(Q.SET_LOG_BASE, log(0x1000n, 0n), [], shm), 'VhostUser.IncorrectFdsError');
    expectError(() => decode(Q.SET_LOG_BASE, log(0n, 0n), [4], shm), 'VhostUser.InvalidLogError');
    expectError(() => decode(Q.SET_LOG_BASE, log(2n, (1n << 64n) - 1n), [4], shm), 'VhostUser.InvalidLogError');
    const noShm = context({ offeredFeatures: offered });
    expect(decode(Q.SET_LOG_BASE, log(0x1000n, 0n), [], noShm)).toMatchObject({ fd: null });
  });
});

describe('item 56: protocol-feature gating', () => {
  const gated: [number, number, Uint8Array, number[]][] = [
    [Q.GET_QUEUE_NUM, ProtocolFeature.MQ, new Uint8Array(0), []],
    [Q.GET_CONFIG, ProtocolFeature.CONFIG, hex('00000000 01000000 00000000 00'), []],
    [Q.SET_CONFIG, ProtocolFeature.CONFIG, hex('00000000 01000000 00000000 00'), []],
    [Q.GET_INFLIGHT_FD, ProtocolFeature.INFLIGHT_SHMFD, new Uint8Array(24), []],
    [Q.SET_INFLIGHT_FD, ProtocolFeature.INFLIGHT_SHMFD, new Uint8Array(24), [3]],
    [Q.RESET_DEVICE, ProtocolFeature.RESET_DEVICE, new Uint8Array(0), []],
    [Q.GET_MAX_MEM_SLOTS, ProtocolFeature.CONFIGURE_MEM_SLOTS, new Uint8Array(0), []],
    [Q.ADD_MEM_REG, ProtocolFeature.CONFIGURE_MEM_SLOTS, new Uint8Array(40), [3]],
    [Q.REM_MEM_REG, ProtocolFeature.CONFIGURE_MEM_SLOTS, new Uint8Array(40), []],
    [Q.SET_STATUS, ProtocolFeature.STATUS, new Uint8Array(8), []],
    [Q.GET_STATUS, ProtocolFeature.STATUS, new Uint8Array(0), []],
    [Q.SET_BACKEND_REQ_FD, ProtocolFeature.BACKEND_REQ, new Uint8Array(0), [3]],
    [Q.VRING_KICK, ProtocolFeature.INBAND_NOTIFICATIONS, new Uint8Array(8), []],
    [Q.SEND_RARP, ProtocolFeature.RARP, new Uint8Array(8), []],
    [Q.NET_SET_MTU, ProtocolFeature.MTU, new Uint8Array(8), []],
    [Q.SET_VRING_ENDIAN, ProtocolFeature.CROSS_ENDIAN, new Uint8Array(8), []],
  ];
  for (const [request, bit, payload, fds] of gated) {
    it(`request ${request} needs protocol feature ${bit}`, () => {
      const without = context({ ackedProtocolFeatures: 0n });
      expectError(() => decode(request, payload, fds, without), 'VhostUser.InactiveOperationError');
      const withBit = context({ ackedProtocolFeatures: 1n << BigInt(bit) });
      let caught: unknown;
      try {
        decode(request, payload, fds, withBit);
      } catch (e) {
        caught = e;
      }
      expect(isVhostUserError(caught, 'VhostUser.InactiveOperationError')).toBe(false);
    });
  }
  it('unsupported requests stay refused even when their gate is open', () => {
    const all = context({ ackedProtocolFeatures: (1n << 17n) - 1n, ackedFeatures: 1n << 33n });
    expectError(() => decode(Q.POSTCOPY_ADVISE, new Uint8Array(0), [], all), 'VhostUser.UnsupportedRequestError');
    expectError(() => decode(Q.IOTLB_MSG, new Uint8Array(32), [], all), 'VhostUser.UnsupportedRequestError');
    expectError(() => decode(Q.GPU_SET_SOCKET, new Uint8Array(0), [3], all), 'VhostUser.UnsupportedRequestError');
    expectError(() => decode(Q.POSTCOPY_ADVISE, new Uint8Array(0), [], context()), 'VhostUser.InactiveOperationError');
  });
  it('SET_STATUS is a u8, VRING_KICK num is 0, SET_VRING_ENDIAN num is 0 or 1', () => {
    const all = context({ ackedProtocolFeatures: (1n << 17n) - 1n });
    expect(decode(Q.SET_STATUS, u64(0xffn), [], all)).toMatchObject({ value: 0xffn });
    expectError(() => decode(Q.SET_STATUS, u64(0x100n), [], all), 'VhostUser.InvalidParamError');
    expect(decode(Q.VRING_KICK, state(0, 0), [], all)).toMatchObject({ index: 0, num: 0 });
    expectError(() => decode(Q.VRING_KICK, state(0, 1), [], all), 'VhostUser.InvalidParamError');
    expectError(() => decode(Q.SET_VRING_ENDIAN, state(0, 2), [], all), 'VhostUser.InvalidParamError');
  });
});

describe('round trips for every request shape', () => {
  it('encodeRequest then decodeMessage gives the message back', () => {
    const all = context({
      ackedProtocolFeatures: (1n << 17n) - 1n,
      offeredProtocolFeatures: (1n << 17n) - 1n,
      offeredFeatures: (1n << 26n) | (1n << 30n) | (1n << 32n),
      ackedFeatures: (1n << 26n) | (1n << 30n) | (1n << 32n),
      queueCount: 4,
    });
    const msgs: VhostUserRequestMessage[] = [
      { request: Q.SET_LOG_FD, needReply: true, fd: 5 },
      { request: Q.SET_BACKEND_REQ_FD, needReply: false, fd: 6 },
      { request: Q.SET_LOG_BASE, needReply: false, log: { mmapSize: 0x1000n, mmapOffset: 0x2000n }, fd: 3 },
      { request: Q.SEND_RARP, needReply: false, value: 0x5452_0000_0000n },
      { request: Q.NET_SET_MTU, needReply: true, value: 1500n },
      { request: Q.SET_VRING_ENDIAN, needReply: false, index: 3, num: 1 },
      { request: Q.VRING_KICK, needReply: true, index: 2, num: 0 },
      { request: Q.SET_VRING_ERR, needReply: false, index: 3, fd: 8 },
    ];
    for (const m of msgs) expect(roundTrip(m, all)).toEqual(m);
  });
});

describe('item 57 and state rules', () => {
  it('SET_OWNER itself is stateless in the decoder (the backend refuses a second claim)', () => {
    expect(decode(Q.SET_OWNER, new Uint8Array(0))).toEqual({ request: Q.SET_OWNER, needReply: false });
  });
});
