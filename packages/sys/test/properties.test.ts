// Property tests for values a vhost-user frontend controls: region offsets and sizes handed to
// mmap, and message bytes and fd counts on the socket. Whatever they are, the result is a correct
// mapping or message, or one of an allowlist of errors; never a crash, never a wrong byte.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { readSync, writeSync } from 'node:fs';
import { closeFd, EventFd, isSysError, MAX_MAPPING_LENGTH, memfdCreate, mmap, pageSize, UnixStream } from '@vmv/sys';

const FILE_SIZE = 64 * 1024;
let fd: number;

beforeAll(() => {
  fd = memfdCreate('vmv-prop', FILE_SIZE);
  const pattern = Buffer.alloc(FILE_SIZE);
  for (let i = 0; i < FILE_SIZE; i++) pattern[i] = (i * 7 + (i >> 8)) & 0xff;
  writeSync(fd, pattern, 0, FILE_SIZE, 0);
});
afterAll(() => closeFd(fd));

/** Errors mmap may give for a frontend-chosen (offset, length): nothing else is allowed. */
const MMAP_ALLOWED = new Set(['ENXIO', 'EINVAL', 'ENOMEM', 'EOVERFLOW']);

describe('mmap with frontend-controlled offsets and lengths', () => {
  it('maps exactly the requested bytes or fails with an allowed error', () => {
    const page = pageSize();
    const offsets = fc.oneof(fc.integer({ min: 0, max: FILE_SIZE + 2 * page }), fc.constantFrom(0, page - 1, page, FILE_SIZE - 1, FILE_SIZE), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - MAX_MAPPING_LENGTH }));
    const lengths = fc.oneof(fc.integer({ min: 1, max: FILE_SIZE + page }), fc.constantFrom(1, page, FILE_SIZE), fc.integer({ min: 1, max: MAX_MAPPING_LENGTH }));
    fc.assert(
      fc.property(offsets, lengths, (offset, length) => {
        let m;
        try {
          m = mmap(fd, length, { offset });
        } catch (e) {
          expect(isSysError(e)).toBe(true);
          expect(MMAP_ALLOWED.has((e as { code: string }).code)).toBe(true);
          expect(offset + length).toBeGreaterThan(FILE_SIZE); // only out-of-file ranges fail
          return;
        }
        expect(offset + length).toBeLessThanOrEqual(FILE_SIZE);
        const expected = Buffer.alloc(Math.min(length, 64));
        readSync(fd, expected, 0, expected.length, offset);
        expect(Buffer.from(m.buffer, 0, expected.length).equals(expected)).toBe(true);
        expect(m.buffer.byteLength).toBe(length);
        m.close();
        expect(m.buffer.byteLength).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});

describe('sendmsg/recvmsg', () => {
  it('delivers any bytes with any number of fds, in order, across reads of any size', () => {
    const ev = new EventFd();
    try {
      fc.assert(
        fc.property(
          fc.array(fc.record({ bytes: fc.uint8Array({ minLength: 1, maxLength: 300 }), fds: fc.integer({ min: 0, max: 12 }) }), { minLength: 1, maxLength: 6 }),
          fc.integer({ min: 1, max: 512 }),
          (messages, chunk) => {
            const [a, b] = UnixStream.pair();
            try {
              for (const m of messages) expect(a.sendmsg(m.bytes, new Array<number>(m.fds).fill(ev.fd))).toBe(m.bytes.length);
              a.shutdown('write');
              const sent = Buffer.concat(messages.map((m) => m.bytes));
              const got: Buffer[] = [];
              let fds = 0;
              const buf = new Uint8Array(chunk);
              for (;;) {
                const r = b.recvmsg(buf);
                expect(r).not.toBeNull(); // everything is queued already
                if (r!.bytesRead === 0) break;
                expect(r!.fdsTruncated).toBe(false);
                got.push(Buffer.from(buf.subarray(0, r!.bytesRead)));
                fds += r!.fds.length;
                for (const f of r!.fds) closeFd(f);
              }
              expect(Buffer.concat(got).equals(sent)).toBe(true);
              expect(fds).toBe(messages.reduce((n, m) => n + m.fds, 0));
            } finally {
              a.close();
              b.close();
            }
          },
        ),
        { numRuns: 150 },
      );
    } finally {
      ev.close();
    }
  });
});
