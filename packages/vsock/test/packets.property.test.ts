/**
 * Property tests of guest bytes: the header check on any bytes (a typed outcome, never an
 * exception), encode/decode round trips, and whole transmitted packets of any header and payload
 * on any descriptor layout: only allowlisted events, never DEVICE_NEEDS_RESET, the device keeps serving.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { HEADER_SIZE, VsockDevice, checkTxHeader, decodeHeader, encodeHeader, type VsockEvent } from '@vmv/vsock';
import { LinuxVsock, until } from './support/linux-vsock';

const DROP = ['short', 'bad-src-cid', 'length', 'too-long'];
const RESET = ['no-listener', 'limit', 'type-disabled', 'unknown-type', 'unknown-op', 'no-connection', 'bad-dst-cid', 'credit-exceeded', 'message-too-long', 'protocol'];

describe('header', () => {
  it('checkTxHeader never throws: ok, or one of the drop reasons', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 60 }), fc.nat(200_000), fc.integer({ min: 3, max: 10 }), (bytes, readable, cid) => {
        const c = checkTxHeader(bytes, readable, cid);
        if (c.ok) {
          expect(c.header.srcCid).toBe(cid);
          expect(c.header.len).toBeLessThanOrEqual(readable - HEADER_SIZE);
        } else expect(DROP).toContain(c.reason);
      }),
    );
  });

  it('decodeHeader and encodeHeader round-trip any 44 bytes with zero upper CID halves', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 44, maxLength: 44 }), (bytes) => {
        bytes.fill(0, 4, 8);
        bytes.fill(0, 12, 16);
        expect(encodeHeader(decodeHeader(bytes))).toEqual(bytes);
      }),
    );
  });
});

describe('transmitted packets', () => {
  it('any header and payload on any layout: allowlisted events only, the device keeps serving', async () => {
    const header = fc.record({
      srcCid: fc.constantFrom(3, 4, 2),
      dstCid: fc.constantFrom(2, 2, 5),
      srcPort: fc.constantFrom(40000, 40001, 7),
      dstPort: fc.constantFrom(1, 2),
      type: fc.integer({ min: 0, max: 3 }),
      op: fc.integer({ min: 0, max: 9 }),
      flags: fc.integer({ min: 0, max: 3 }),
      bufAlloc: fc.constantFrom(0, 4096, 262144, 0xffffffff),
      fwdCnt: fc.nat(),
    });
    const packet = fc.tuple(header, fc.uint8Array({ maxLength: 300 }), fc.integer({ min: -50, max: 50 }));
    await fc.assert(
      fc.asyncProperty(fc.array(packet, { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 60 }), { maxLength: 4 }), fc.boolean(), async (packets, split, packed) => {
        const events: VsockEvent[] = [];
        const device = new VsockDevice({ guestCid: 3, bufAlloc: 1024, onEvent: (e) => events.push(e) });
        device.listen(1, (c) => c.attach({ data: () => undefined }));
        const guest = new LinuxVsock(device, { split, packed });
        guest.probe();
        for (const [h, payload, skew] of packets) guest.raw({ ...h, len: Math.max(0, payload.length + skew) }, payload);
        const s = guest.connect(1);
        await until(() => s.state === 'open' && guest.txInFlight === 0);
        expect(guest.driver.needsReset()).toBe(false);
        for (const e of events) {
          if (e.type === 'dropped') expect(DROP).toContain(e.reason);
          else if (e.type === 'reset') expect(RESET).toContain(e.reason);
          else throw new Error(`unexpected event ${e.type}`);
        }
      }),
      { numRuns: 60, seed: 5 },
    );
  }, 300_000);
});
