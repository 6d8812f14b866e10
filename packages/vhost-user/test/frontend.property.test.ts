/**
 * Properties of what the frontend parses: backend request and reply codecs round-trip, and a
 * real VhostUserFrontend fed arbitrary reply bytes by a fake backend either returns the value or
 * rejects with a listed VhostUser error and closes, never hangs or throws anything else.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { UnixStream } from '@vmv/sys';
import { VhostUserFrontend } from '@vmv/vhost-user/frontend';
import {
  HeaderFlags,
  VHOST_USER_ERROR_NAMES,
  VhostUserBackendRequest,
  VhostUserRequest as Q,
  checkReply,
  decodeBackendRequest,
  encodeAckReply,
  encodeBackendRequest,
  encodeMessage,
  encodeU64Reply,
  readHeader,
  readU64Reply,
  validateBackendRequestHeader,
  validateReplyHeader,
} from '@vmv/vhost-user/protocol';
import { HANG_MS, until } from './frontend';

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const header = (bytes: Uint8Array) => readHeader(new DataView(bytes.buffer, bytes.byteOffset, 12));

describe('backend request and reply codecs', () => {
  it('decodeBackendRequest(encodeBackendRequest(m)) equals m', () => {
    fc.assert(
      fc.property(fc.boolean(), (needReply) => {
        const m = { request: VhostUserBackendRequest.CONFIG_CHANGE_MSG, needReply };
        const bytes = encodeBackendRequest(m);
        const h = header(bytes);
        validateBackendRequestHeader(h);
        expect(decodeBackendRequest(h, bytes.subarray(12), [])).toEqual(m);
      }),
    );
  });

  it('a u64 reply to any request reads back as its value, and only as a reply to that request', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }), u64, (request, asked, value) => {
        const bytes = encodeU64Reply(request, value);
        const h = header(bytes);
        validateReplyHeader(h);
        if (asked === request) expect(readU64Reply(checkReply(h, bytes.subarray(12), [], asked, 8))).toBe(value);
        else expect(() => checkReply(h, bytes.subarray(12), [], asked, 8)).toThrow(expect.objectContaining({ name: 'VhostUser.InvalidReplyError' }));
      }),
    );
  });

  it('a reply header is accepted only with flags exactly VERSION|REPLY', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffff_ffff }), (flags) => {
        const bytes = encodeMessage(Q.GET_FEATURES, flags, new Uint8Array(8));
        const ok = flags === (HeaderFlags.VERSION | HeaderFlags.REPLY);
        if (ok) validateReplyHeader(header(bytes));
        else expect(() => validateReplyHeader(header(bytes))).toThrow();
      }),
    );
  });

  it('an ack carries 0 for success and 1 for failure', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.boolean(), (request, ok) => {
        const bytes = encodeAckReply(request, ok);
        expect(readU64Reply(checkReply(header(bytes), bytes.subarray(12), [], request, 8))).toBe(ok ? 0n : 1n);
      }),
    );
  });
});

describe('a frontend fed arbitrary reply bytes', () => {
  const NAMES = new Set<string>(VHOST_USER_ERROR_NAMES);
  /** Reply bytes: random, or a valid GET_FEATURES reply with a few bytes changed, then cut or not. */
  const replyArb = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc
      .tuple(u64, fc.array(fc.tuple(fc.nat({ max: 19 }), fc.nat({ max: 255 })), { maxLength: 3 }), fc.nat({ max: 20 }))
      .map(([value, flips, cut]) => {
        const bytes = encodeU64Reply(Q.GET_FEATURES, value);
        for (const [at, v] of flips) bytes[at] = v;
        return bytes.subarray(0, cut === 0 ? 20 : Math.min(cut, 20));
      }),
  );

  it('resolves with the value or rejects with a listed VhostUser error, and closes on an error', async () => {
    await fc.assert(
      fc.asyncProperty(replyArb, async (bytes) => {
        const [a, b] = UnixStream.pair();
        const fe = new VhostUserFrontend(a, { replyTimeoutMs: HANG_MS });
        try {
          const result = fe.getFeatures().then(
            (value) => ({ value }),
            (error: unknown) => ({ error }),
          );
          await until(() => b.recvmsg(new Uint8Array(64)) !== null, HANG_MS, 'the request');
          if (bytes.length > 0) b.sendmsg(bytes);
          b.close(); // whatever was cut short ends here
          const r = await result;
          if ('error' in r) {
            expect(NAMES.has((r.error as Error).name)).toBe(true);
            expect(fe.isClosed).toBe(true);
          } else {
            const valid = bytes.length === 20 && new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true) === Q.GET_FEATURES;
            expect(valid).toBe(true);
            expect(r.value).toBe(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(12, true));
          }
        } finally {
          fe.close();
        }
      }),
      { numRuns: 300 },
    );
  });
});
