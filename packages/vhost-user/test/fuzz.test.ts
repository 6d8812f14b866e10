import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  DECODE_ERROR_NAMES,
  HeaderFlags,
  VhostUserBackendRequest,
  VhostUserRequest as Q,
  checkReply,
  decodeBackendRequest,
  decodeMessage,
  encodeMessage,
  encodeRequest,
  readConfigAccess,
  readHeader,
  readU64Reply,
  validateBackendRequestHeader,
  validateReplyHeader,
  type VhostUserDecodeContext,
  type VhostUserRequestMessage,
} from '@vmv/vhost-user/protocol';
import { GOLDEN_REQUESTS } from './golden/qemu-7.2-blk';
import { context, hex } from './helpers';

const ALLOWED = new Set<string>(DECODE_ERROR_NAMES);

/** Every fd a decoded message holds, in field order. */
function heldFds(m: VhostUserRequestMessage): number[] {
  const out: number[] = [];
  if ('fds' in m) out.push(...m.fds);
  if ('fd' in m && m.fd !== null) out.push(m.fd);
  return out;
}

/** Decodes and checks the contract: allowlisted errors only; on success every fd is held exactly once. */
function checkDecode(bytes: Uint8Array, fds: number[], ctx: VhostUserDecodeContext): boolean {
  let msg: VhostUserRequestMessage;
  try {
    msg = decodeMessage(bytes, fds, ctx);
  } catch (e) {
    const name = e instanceof Error ? e.name : typeof e;
    if (!ALLOWED.has(name)) throw new Error(`unexpected error ${name}`, { cause: e });
    return false;
  }
  expect(heldFds(msg).sort((a, b) => a - b)).toEqual([...fds].sort((a, b) => a - b));
  return true;
}

const ctxArb: fc.Arbitrary<VhostUserDecodeContext> = fc.record({
  offeredFeatures: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  ackedFeatures: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  offeredProtocolFeatures: fc.bigInt({ min: 0n, max: (1n << 17n) - 1n }),
  ackedProtocolFeatures: fc.oneof(fc.constant((1n << 17n) - 1n), fc.bigInt({ min: 0n, max: (1n << 17n) - 1n })),
  queueCount: fc.integer({ min: 1, max: 256 }),
  maxQueueSize: fc.constantFrom(1, 128, 256, 1024, 32768),
});

const fdsArb = fc.integer({ min: 0, max: 40 }).map((n) => Array.from({ length: n }, (_, i) => 100 + i));

/** A header with a plausible request, biased flags and a size equal to the body it frames. */
const framedArb = fc
  .record({
    request: fc.oneof(fc.integer({ min: 0, max: 45 }), fc.nat()),
    flags: fc.oneof(fc.constantFrom(1, 9, 5, 0, 2, 0x11), fc.nat()),
    body: fc.uint8Array({ maxLength: 600 }),
  })
  .map(({ request, flags, body }) => {
    const bytes = new Uint8Array(12 + body.length);
    const v = new DataView(bytes.buffer);
    v.setUint32(0, request >>> 0, true);
    v.setUint32(4, flags >>> 0, true);
    v.setUint32(8, body.length, true);
    bytes.set(body, 12);
    return bytes;
  });

describe('decoder fuzzing', () => {
  it('random bytes and random fd counts yield only allowlisted errors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), fdsArb, ctxArb, (bytes, fds, ctx) => void checkDecode(bytes, fds, ctx)),
      { numRuns: 3000 },
    );
  });

  it('well-framed random payloads reach the payload rules and stay within the allowlist', () => {
    fc.assert(fc.property(framedArb, fdsArb, ctxArb, (bytes, fds, ctx) => void checkDecode(bytes, fds, ctx)), { numRuns: 4000 });
  });

  it('small payloads of every known request with a full context', () => {
    const full = context({
      offeredProtocolFeatures: (1n << 17n) - 1n,
      ackedProtocolFeatures: (1n << 17n) - 1n,
      offeredFeatures: (1n << 64n) - 1n,
      ackedFeatures: (1n << 64n) - 1n,
      queueCount: 4,
    });
    let decoded = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.constantFrom(HeaderFlags.VERSION, HeaderFlags.VERSION | HeaderFlags.NEED_REPLY),
        fc.oneof(
          { weight: 3, arbitrary: fc.constantFrom(0, 8, 24, 40, 72).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })) },
          { weight: 1, arbitrary: fc.uint8Array({ maxLength: 80 }) },
        ),
        fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) }),
        (request, flags, body, nfds) => {
          if (checkDecode(encodeMessage(request, flags, body), Array.from({ length: nfds }, (_, i) => 50 + i), full)) decoded++;
        },
      ),
      { numRuns: 4000 },
    );
    // the generator must reach the success paths too, not only early rejections
    expect(decoded).toBeGreaterThan(100);
  });

  it('mutated golden QEMU messages yield only allowlisted errors', () => {
    const goldens = GOLDEN_REQUESTS.map((g) => ({ bytes: hex(g.hex), fds: g.fds }));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: goldens.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: -1, max: 1 }),
        (which, flips, fdDelta) => {
          const g = goldens[which]!;
          const bytes = g.bytes.slice();
          for (const [pos, value] of flips) bytes[pos % bytes.length] = value;
          const n = Math.max(0, g.fds + fdDelta);
          void checkDecode(bytes, Array.from({ length: n }, (_, i) => 60 + i), context({ queueCount: 2 }));
        },
      ),
      { numRuns: 4000 },
    );
  });
});

describe('encode/decode round trip', () => {
  const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
  const ctx = context({
    offeredFeatures: (1n << 64n) - 1n,
    ackedFeatures: ((1n << 64n) - 1n) & ~(1n << 34n),
    offeredProtocolFeatures: (1n << 17n) - 1n,
    ackedProtocolFeatures: (1n << 17n) - 1n,
    queueCount: 8,
    maxQueueSize: 32768,
  });
  const index = fc.integer({ min: 0, max: 7 });
  const fd = fc.integer({ min: 3, max: 1000 });
  const region = fc
    .record({ gpa: fc.bigInt({ min: 0n, max: 1n << 40n }), size: fc.bigInt({ min: 1n, max: 1n << 32n }), uaddr: fc.bigInt({ min: 0n, max: 1n << 47n }), off: fc.bigInt({ min: 0n, max: 1n << 40n }) })
    .map((r) => ({ guestPhysAddr: r.gpa, memorySize: r.size, userAddr: r.uaddr, mmapOffset: r.off }));
  const msgArb: fc.Arbitrary<VhostUserRequestMessage> = fc.oneof(
    fc.record({ request: fc.constantFrom(Q.GET_FEATURES, Q.SET_OWNER, Q.GET_STATUS, Q.RESET_DEVICE), needReply: fc.boolean() }),
    fc.record({ request: fc.constant(Q.SET_FEATURES), needReply: fc.boolean(), value: u64.map((v) => v & ~(1n << 34n)) }),
    fc.record({ request: fc.constant(Q.SET_VRING_NUM), needReply: fc.boolean(), index, num: fc.integer({ min: 0, max: 15 }).map((e) => 1 << e) }),
    fc.record({ request: fc.constant(Q.SET_VRING_BASE), needReply: fc.boolean(), index, num: fc.integer({ min: 0, max: 0xffff }) }),
    fc.record({ request: fc.constant(Q.SET_VRING_ENABLE), needReply: fc.boolean(), index, num: fc.integer({ min: 0, max: 1 }) }),
    fc.record({ request: fc.constantFrom(Q.SET_VRING_KICK, Q.SET_VRING_CALL, Q.SET_VRING_ERR), needReply: fc.boolean(), index, fd: fc.option(fd) }),
    fc.record({
      request: fc.constant(Q.SET_VRING_ADDR),
      needReply: fc.boolean(),
      addr: fc.record({
        index,
        flags: fc.constantFrom(0, 1),
        descUserAddr: u64.map((v) => v & ~0xfn),
        usedUserAddr: u64.map((v) => v & ~0x3n),
        availUserAddr: u64.map((v) => v & ~0x1n),
        logGuestAddr: u64,
      }),
    }),
    fc.record({ request: fc.constant(Q.ADD_MEM_REG), needReply: fc.boolean(), region, fd }),
    fc
      .array(region, { minLength: 1, maxLength: 8 })
      .map((rs) => {
        // lay regions out back to back so they are sorted and disjoint
        let next = 0n;
        return rs.map((r) => {
          const placed = { ...r, guestPhysAddr: next };
          next += r.memorySize + (r.guestPhysAddr & 0xffffn);
          return placed;
        });
      })
      .chain((regions) =>
        fc.record({
          request: fc.constant(Q.SET_MEM_TABLE),
          needReply: fc.boolean(),
          regions: fc.constant(regions),
          fds: fc.constant(regions.map((_, i) => 10 + i)),
        }),
      ),
    fc.integer({ min: 1, max: 256 }).chain((size) =>
      fc.record({
        request: fc.constantFrom(Q.GET_CONFIG, Q.SET_CONFIG),
        needReply: fc.boolean(),
        config: fc.record({
          offset: fc.integer({ min: 0, max: 0x1000 - size }),
          size: fc.constant(size),
          flags: fc.constantFrom(0, 1),
          data: fc.uint8Array({ minLength: size, maxLength: size }),
        }),
      }),
    ),
    fc.record({
      request: fc.constant(Q.SET_INFLIGHT_FD),
      needReply: fc.boolean(),
      inflight: fc.record({
        mmapSize: fc.bigInt({ min: 1n, max: 1n << 40n }),
        mmapOffset: fc.bigInt({ min: 0n, max: 1n << 40n }),
        numQueues: fc.integer({ min: 1, max: 8 }),
        queueSize: fc.integer({ min: 1, max: 32768 }),
      }),
      fd,
    }),
  ) as fc.Arbitrary<VhostUserRequestMessage>;

  it('decode(encode(m)) equals m', () => {
    fc.assert(
      fc.property(msgArb, (m) => {
        const { bytes, fds } = encodeRequest(m);
        expect(decodeMessage(bytes, fds, ctx)).toEqual(m);
      }),
      { numRuns: 1500 },
    );
  });
});

describe('backend requests and replies (the frontend side of the wire)', () => {
  /** What a reply reader may throw: the decoder's names and InvalidReplyError. */
  const REPLY_ALLOWED = new Set<string>([...DECODE_ERROR_NAMES, 'VhostUser.InvalidReplyError']);
  const allowed = (set: Set<string>, e: unknown): void => {
    const name = e instanceof Error ? e.name : typeof e;
    if (!set.has(name)) throw new Error(`unexpected error ${name}`, { cause: e });
  };

  it('random framed bytes as a backend request yield a request or an allowlisted error', () => {
    let decoded = 0;
    fc.assert(
      fc.property(
        // random framing, and well-formed CONFIG_CHANGE_MSG headers so the success path is reached
        fc.oneof(framedArb, fc.constantFrom(HeaderFlags.VERSION, HeaderFlags.VERSION | HeaderFlags.NEED_REPLY).map((f) => encodeMessage(VhostUserBackendRequest.CONFIG_CHANGE_MSG, f, new Uint8Array(0)))),
        fdsArb,
        (bytes, fds) => {
          try {
            const header = readHeader(new DataView(bytes.buffer, bytes.byteOffset, 12));
            validateBackendRequestHeader(header);
            const msg = decodeBackendRequest(header, bytes.subarray(12, 12 + header.size), fds);
            expect(msg.request).toBe(VhostUserBackendRequest.CONFIG_CHANGE_MSG);
            decoded++;
          } catch (e) {
            allowed(ALLOWED, e);
          }
        },
      ),
      { numRuns: 4000 },
    );
    expect(decoded).toBeGreaterThan(0);
  });

  it('random framed bytes as a reply to any request yield a value or an allowlisted error', () => {
    fc.assert(
      fc.property(framedArb, fc.integer({ min: 0, max: 45 }), fc.constantFrom(undefined, 8, 24), fdsArb, (bytes, request, size, fds) => {
        try {
          const header = readHeader(new DataView(bytes.buffer, bytes.byteOffset, 12));
          validateReplyHeader(header);
          const view = checkReply(header, bytes.subarray(12, 12 + header.size), fds, request, size);
          if (request === Q.GET_CONFIG) readConfigAccess(view, 0, view.byteLength);
          else if (size === 8) readU64Reply(view);
        } catch (e) {
          allowed(REPLY_ALLOWED, e);
        }
      }),
      { numRuns: 4000 },
    );
  });
});
