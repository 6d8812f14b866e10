/**
 * Hostile clients: random bytes, and well-framed commands with random fields, random payload
 * sizes and random fds, fed to a session. Only framing errors may escape (the connection ends);
 * everything else is answered with a well-formed reply; the device is only called inside its
 * regions; every fd is closed exactly once by the time the session ends.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  COMMAND_ERROR_NAMES,
  decodeDeviceGetInfo,
  decodeDmaMap,
  decodeDmaUnmap,
  decodeGetIrqInfo,
  decodeGetRegionInfo,
  decodeRegionAccess,
  decodeSetIrqs,
  decodeVersion,
  isVfioUserError,
} from '@vmv/vfio-user';
import { QEMU_CAPS, parse, qemu } from './support/client';
import { TestDevice } from './support/device';
import { harness } from './support/harness';

const FRAMING = ['VfioUser.InvalidHeaderError', 'VfioUser.OversizedMessageError', 'VfioUser.PartialMessageError'];

/** A device whose callbacks check they are called inside the region. */
class CheckedDevice extends TestDevice {
  override read(region: number, offset: number, data: Uint8Array): void {
    if (data.length === 0 || offset + data.length > (region === 7 ? 256 : region === 0 ? 0x1000 : 0x800)) throw new Error(`read outside region ${region}`);
    super.read(region, offset, data);
  }
  override write(region: number, offset: number, data: Uint8Array): void {
    if (data.length === 0 || offset + data.length > (region === 7 ? 256 : 0x1000) || region === 6) throw new Error(`write outside region ${region}`);
    super.write(region, offset, data);
  }
}

const u32 = fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 7, 8, 9, 16, 20, 24, 32, 0x1000, 0xffffffff), fc.nat({ max: 0xffffffff }));
const u64 = fc.oneof(fc.constantFrom(0n, 0x1000n, 0x10_0000n, 1n << 63n, (1n << 64n) - 1n, (1n << 64n) - 0x1000n), fc.bigUint64Array({ minLength: 1, maxLength: 1 }).map((a) => a[0]!));

/** A payload of random fields, often of the size a command expects. */
const payload = fc.oneof(
  fc.tuple(fc.array(fc.oneof(u32.map((v) => [4, v] as const), u64.map((v) => [8, v] as const)), { maxLength: 8 }), fc.uint8Array({ maxLength: 40 })).map(([fs, tail]) => {
    const out = new Uint8Array(fs.reduce((n, [b]) => n + b, 0) + tail.length);
    const v = new DataView(out.buffer);
    let at = 0;
    for (const [b, x] of fs) {
      if (b === 4) v.setUint32(at, x as number, true);
      else v.setBigUint64(at, x as bigint, true);
      at += b;
    }
    out.set(tail, at);
    return out;
  }),
  fc.uint8Array({ maxLength: 300 }),
);

const framed = fc.record({
  id: fc.nat({ max: 0xffff }),
  command: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.nat({ max: 0xffff })),
  flags: fc.oneof(fc.constantFrom(0, 0x10, 1, 0x21, 0x40, 2), fc.nat({ max: 0xffffffff })),
  error: fc.oneof(fc.constant(0), fc.nat({ max: 0xffffffff })),
  body: payload,
  fds: fc.array(fc.constantFrom('eventfd', 'memfd', 'memfd-page'), { maxLength: 4 }),
  sizeDelta: fc.oneof(fc.constant(0), fc.integer({ min: -20, max: 20 })),
});

function build(m: { id: number; command: number; flags: number; error: number; body: Uint8Array; sizeDelta: number }): Uint8Array {
  const out = new Uint8Array(16 + m.body.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, m.id, true);
  v.setUint16(2, m.command, true);
  v.setUint32(4, Math.max(0, out.length + m.sizeDelta), true);
  v.setUint32(8, m.flags >>> 0, true);
  v.setUint32(12, m.error >>> 0, true);
  out.set(m.body, 16);
  return out;
}

describe('a session under hostile messages', () => {
  it('answers well-formed replies, calls the device only inside its regions, and closes every fd once', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(fc.oneof(framed, fc.uint8Array({ minLength: 16, maxLength: 64 }).map((b) => ({ raw: b }))), { maxLength: 25 }), (negotiate, messages) => {
        const { session, host, send } = harness({ maxDataXferSize: 4096 }, new CheckedDevice());
        if (negotiate) send(qemu.version(QEMU_CAPS));
        for (const m of messages) {
          const bytes = 'raw' in m ? m.raw : build(m);
          const fds = 'raw' in m ? [] : m.fds.map((k) => (k === 'eventfd' ? host.eventfd() : host.memfd(k === 'memfd' ? 0x2000 : 0x1000)));
          try {
            const p = session.handleMessage(bytes, fds);
            if (p !== undefined) throw new Error('only DEVICE_RESET answers later and this device resets at once');
          } catch (e) {
            if (!(isVfioUserError(e) && FRAMING.includes(e.name))) throw e;
            expect(fds.every((fd) => !host.open.has(fd))).toBe(true);
            break;
          }
          const request = 'raw' in m ? null : m;
          for (const out of host.take()) {
            const r = parse(out);
            expect(r.size).toBe(out.length);
            expect(r.flags === 1 || (r.flags === 0x21 && r.size === 16 && r.error > 0)).toBe(true);
            if (request !== null) {
              expect(r.id).toBe(request.id);
              expect(r.command).toBe(request.command);
            }
          }
        }
        session.close();
        expect(host.open.size).toBe(0);
        expect(host.closedTwice).toEqual([]);
        expect(host.mappings.every((m) => m.released)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('the command decoders throw only their named errors on any payload and fds', () => {
    const decoders = [
      (b: Uint8Array, f: number[]) => decodeVersion(b, f),
      (b: Uint8Array, f: number[]) => decodeDmaMap(b, f),
      (b: Uint8Array, f: number[]) => decodeDmaUnmap(b, f),
      (b: Uint8Array, f: number[]) => decodeDeviceGetInfo(b, f),
      (b: Uint8Array, f: number[]) => decodeGetRegionInfo(b, f),
      (b: Uint8Array, f: number[]) => decodeGetIrqInfo(b, f),
      (b: Uint8Array, f: number[]) => decodeSetIrqs(b, f),
      (b: Uint8Array, f: number[]) => decodeRegionAccess(b, f, false),
      (b: Uint8Array, f: number[]) => decodeRegionAccess(b, f, true),
    ];
    fc.assert(
      fc.property(fc.nat({ max: decoders.length - 1 }), payload, fc.array(fc.nat({ max: 1000 }), { maxLength: 3 }), (i, body, fds) => {
        try {
          decoders[i]!(body, fds);
        } catch (e) {
          expect(isVfioUserError(e) && (COMMAND_ERROR_NAMES as readonly string[]).includes(e.name)).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
