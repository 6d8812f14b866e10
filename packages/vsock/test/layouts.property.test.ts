/**
 * Any descriptor layout (buffers cut at arbitrary byte boundaries, direct or indirect, split or
 * packed rings): checksummed data both ways comes out the same. And arbitrary transmitted packets
 * (any header field, a len that lies, a chain cut short) next to a live connection: typed events
 * from an allowlist at most, never an exception, never DEVICE_NEEDS_RESET, and the bounds hold.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { HEADER_SIZE, VsockDevice, VsockOp, encodeHeader, type VsockConnection, type VsockEvent } from '@vmv/vsock';
import { LinuxVsock, concat, until } from './support/linux-vsock';

const DROP_REASONS = new Set(['short', 'bad-src-cid', 'length', 'too-long']);
const RESET_REASONS = new Set(['no-listener', 'limit', 'type-disabled', 'unknown-type', 'unknown-op', 'no-connection', 'bad-dst-cid', 'credit-exceeded', 'message-too-long', 'protocol']);

describe('descriptor layouts', () => {
  it('data both ways, buffers cut at any byte boundary', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        fc.option(fc.constantFrom(8, 16), { nil: undefined }),
        fc.uint8Array({ minLength: 1, maxLength: 20_000, size: 'max' }),
        fc.uint8Array({ minLength: 1, maxLength: 20_000, size: 'max' }),
        async (split, packed, indirect, down, up) => {
          const device = new VsockDevice({ guestCid: 3, bufAlloc: 8192 });
          const got: Uint8Array[] = [];
          let conn!: VsockConnection;
          device.listen(1, (c) => {
            conn = c;
            c.attach({ data: (b) => void got.push(b.slice()) });
          });
          const guest = new LinuxVsock(device, { packed, split, indirect, bufAlloc: 8192 });
          guest.probe();
          const s = guest.connect(1);
          await until(() => s.state === 'open');
          conn.write(down);
          let sent = 0;
          let read: Uint8Array = new Uint8Array(0);
          await until(() => {
            sent += guest.send(s, up.subarray(sent));
            read = concat([read, guest.read(s)]);
            return sent === up.length && read.length >= down.length && got.reduce((n, b) => n + b.length, 0) >= up.length;
          });
          expect(read).toEqual(down);
          expect(concat(got)).toEqual(up);
          expect(guest.overruns).toBe(0);
          expect(guest.driver.needsReset()).toBe(false);
        },
      ),
      { numRuns: 30 },
    );
  });
});

describe('arbitrary transmitted packets', () => {
  const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
  const packet = fc.record({
    srcCid: fc.oneof(fc.constant(3), u32),
    dstCid: fc.oneof(fc.constantFrom(2, 3, 7), u32),
    srcPort: fc.oneof(fc.constant(50_000), u32),
    dstPort: fc.oneof(fc.constantFrom(1, 2), u32),
    len: fc.oneof(fc.nat(300), u32),
    type: fc.integer({ min: 0, max: 4 }),
    op: fc.integer({ min: 0, max: 9 }),
    flags: fc.oneof(fc.nat(3), u32),
    bufAlloc: u32,
    fwdCnt: u32,
  });
  const sent = fc.record({
    h: packet,
    payload: fc.uint8Array({ maxLength: 300 }),
    cut: fc.option(fc.nat(HEADER_SIZE + 300), { nil: undefined }),
    pieces: fc.option(fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 4 }), { nil: undefined }),
  });

  it('yield typed events only; the connection table and buffers stay bounded', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(sent, { minLength: 1, maxLength: 25 }), fc.boolean(), async (packets, packed) => {
        const events: VsockEvent[] = [];
        const device = new VsockDevice({ guestCid: 3, bufAlloc: 4096, maxConnections: 4, onEvent: (e) => events.push(e) });
        const conns: VsockConnection[] = [];
        device.listen(1, (c) => {
          conns.push(c);
          c.pause(); // holds what it gets: the credit bound is what keeps memory bounded
        });
        const guest = new LinuxVsock(device, { packed });
        guest.probe();
        const s = guest.connect(1);
        await until(() => s.state === 'open');
        guest.deaf = true; // the guest ignores what comes back: only the device is under test
        for (const p of packets) {
          let bytes = concat([encodeHeader(p.h), p.payload]);
          if (p.cut !== undefined && p.cut > 0) bytes = bytes.subarray(0, p.cut);
          expect(guest.rawBytes(bytes, p.pieces)).toBe(true);
          await until(() => guest.txInFlight === 0);
        }
        expect(guest.driver.needsReset()).toBe(false);
        for (const e of events) {
          if (e.type === 'dropped') expect(DROP_REASONS.has(e.reason)).toBe(true);
          else if (e.type === 'reset') expect(RESET_REASONS.has(e.reason)).toBe(true);
          else throw new Error(`unexpected event ${JSON.stringify(e)}`);
        }
        expect(device.connectionCount).toBeLessThanOrEqual(4);
        for (const c of conns) expect(c.receiveBuffered).toBeLessThanOrEqual(4096);
        expect(guest.log.every((h) => h.op >= VsockOp.REQUEST && h.op <= VsockOp.CREDIT_REQUEST && h.dstCid === 3)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});
