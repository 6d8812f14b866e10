/**
 * The virtio-scsi request parser under arbitrary guests (§5.6.6.1, §5.6.6.2): any lun bytes,
 * CDB, header and response lengths, data lengths and descriptor cuts are answered with a response
 * code from the spec's list (or returned empty when not even a response header fits), within the
 * buffers, and never put the device in DEVICE_NEEDS_RESET; the LUN and structure codecs are total
 * and invert each other.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { MemoryBackend } from '@vmv/block';
import { ScsiDevice, VirtioScsiResponse as R, decodeCommandResponse, decodeEvent, decodeLun, encodeCommandResponse, encodeEvent, encodeEventLun, encodeLun } from '@vmv/scsi';
import { LinuxScsi } from './support/linux-scsi.js';

const RESPONSES: number[] = [R.OK, R.OVERRUN, R.BAD_TARGET, R.FAILURE];
const CONTROL_RESPONSES: number[] = [R.OK, R.BAD_TARGET, R.FAILURE, R.FUNCTION_SUCCEEDED, R.FUNCTION_REJECTED, R.INCORRECT_LUN];

describe('codecs', () => {
  it('decodeLun: any 8 bytes decode to an address in range or null; encodeLun inverts it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 8 }), (b) => {
        const a = decodeLun(b);
        if (a === null) return;
        expect(a.target).toBeLessThanOrEqual(255);
        expect(a.lun).toBeLessThanOrEqual(16383);
        expect(decodeLun(encodeLun(a.target, a.lun))).toEqual(a);
      }),
    );
    fc.assert(fc.property(fc.nat(255), fc.nat(16383), (t, l) => void expect(decodeLun(encodeLun(t, l))).toEqual({ target: t, lun: l })));
  });

  it('command responses and events round-trip', () => {
    const u32 = fc.nat(0xffff_ffff);
    fc.assert(
      fc.property(u32, fc.nat(0xffff), fc.nat(255), fc.nat(255), fc.uint8Array({ maxLength: 120 }), fc.nat(200), (residual, q, status, response, sense, size) => {
        const b = encodeCommandResponse({ residual, statusQualifier: q, status, response }, sense, size);
        expect(b.length).toBe(12 + size);
        expect(decodeCommandResponse(b)).toEqual({ senseLength: Math.min(sense.length, size), residual, statusQualifier: q, status, response });
      }),
    );
    fc.assert(
      fc.property(u32, fc.nat(255), fc.nat(16383), u32, (e, t, l, r) => {
        const d = decodeEvent(encodeEvent(e, { target: t, lun: l }, r));
        expect(d).toEqual({ event: e, lun: encodeEventLun(t, l), reason: r });
        // What Linux's virtscsi_handle_event computes: the REPORT LUNS number of the LUN.
        expect([d.lun[1], (d.lun[2]! << 8) | d.lun[3]!]).toEqual([t, l < 256 ? l : 0x4000 | l]);
        expect(decodeLun(d.lun)).toEqual({ target: t, lun: l });
      }),
    );
  });
});

describe.each([false, true])('ScsiDevice under arbitrary requests (directReads %s)', (directReads) => {
  const device = new ScsiDevice({ numQueues: 2, directReads });
  device.bus.add(0, 0, { backend: new MemoryBackend(1 << 20) });
  device.bus.add(0, 3, { backend: new MemoryBackend(64 << 10), readOnly: true });
  const guest = new LinuxScsi(device, { split: [3, 17] });
  guest.probe();
  const lunArb = fc.oneof(fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.tuple(fc.nat(2), fc.nat(5)).map(([t, l]) => encodeLun(t, l)));

  it('every command request is answered with a listed response code, within its buffers', async () => {
    await fc.assert(
      fc.asyncProperty(
        lunArb,
        fc.uint8Array({ minLength: 1, maxLength: 32 }),
        fc.option(fc.nat(51), { nil: undefined }),
        fc.option(fc.integer({ min: 1, max: 120 }), { nil: undefined }),
        fc.nat(1024),
        fc.nat(4096),
        fc.nat(1),
        async (lunBytes, c, headerLength, responseLength, outLength, inLength, queue) => {
          const out = outLength > 0 ? new Uint8Array(outLength).fill(0x3c) : undefined;
          const r = await guest.command(0, 0, c, { lunBytes, headerLength, responseLength, out, inLength, queue });
          const room = responseLength ?? 108;
          if (room + inLength < 12) return void expect(r.used).toBe(0);
          expect(r.used).toBeGreaterThanOrEqual(12);
          expect(r.used).toBeLessThanOrEqual(room + inLength);
          // The device sees writable bytes, not buffers: a response header may run into datain.
          if (room < 12) return;
          expect(RESPONSES).toContain(r.response);
          expect(r.senseLength).toBeLessThanOrEqual(guest.senseSize);
        },
      ),
      { numRuns: 1500 },
    );
    expect(guest.driver.needsReset()).toBe(false);
    expect(device.commandsInFlight).toBe(0);
  });

  it('every control request is answered with a listed response code, or returned empty', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 40 }), fc.nat(3), fc.nat(8), fc.integer({ min: 1, max: 12 }), async (bytes, type, subtype, respLength) => {
        const req = bytes.length >= 8 ? bytes.slice() : Uint8Array.of(...bytes, 0);
        if (req.length >= 8) {
          new DataView(req.buffer).setUint32(0, type, true);
          if (type === 0) new DataView(req.buffer).setUint32(4, subtype, true);
        }
        const { used, resp } = await guest.controlRaw(req, respLength);
        expect(used).toBeLessThanOrEqual(respLength);
        if (used > 0) expect(CONTROL_RESPONSES).toContain(resp[used - 1]);
      }),
      { numRuns: 1000 },
    );
    expect(guest.driver.needsReset()).toBe(false);
  });
});
