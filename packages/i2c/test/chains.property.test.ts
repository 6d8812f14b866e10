/**
 * Properties over hostile guests: any requests (addresses, flags, data, buffer layouts and cuts,
 * FAIL_NEXT chains of any shape) on split or packed rings, against a bus with an EEPROM, an LM75
 * and a target that NACKs at random: the device never throws, answers every request with OK or
 * ERR in its last writable byte with the used length of its writable bytes, fails a group from
 * its first failing request on, and reports nothing but allowlisted errors. And: what a
 * well-formed transfer writes to the EEPROM is what a model of the 24C02 says.
 */
import { expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Eeprom, I2cBus, I2cFlags, I2cStatus, Lm75 } from '@vmv/i2c';
import { GUEST_MEMORY_ERROR_NAMES, QUEUE_ERROR_NAMES } from '@vmv/device-trait';
import { Harness, header } from './support/harness';
import { cut } from '../../device-trait/test/support/driven';

const ALLOWED = new Set<string>([...QUEUE_ERROR_NAMES, ...GUEST_MEMORY_ERROR_NAMES]);

const request = fc.record({
  addr: fc.oneof(fc.constantFrom(0x50 << 1, 0x48 << 1, 0x30 << 1, 0x31 << 1), fc.integer({ min: 0, max: 0xffff })),
  flags: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.nat()),
  headerLen: fc.constantFrom(8, 8, 8, 8, 0, 4, 7, 9),
  data: fc.uint8Array({ maxLength: 12 }),
  readLen: fc.integer({ min: 0, max: 12 }),
  status: fc.constantFrom(1, 1, 1, 1, 0, 2),
  cuts: fc.array(fc.nat(), { maxLength: 2 }),
});

it('hostile requests: OK or ERR, used length = writable bytes, groups fail from their first failure, never an exception', () => {
  fc.assert(
    fc.property(fc.boolean(), fc.boolean(), fc.array(request, { minLength: 1, maxLength: 24 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), (packed, indirect, reqs, nacks) => {
      const bus = new I2cBus();
      bus.attach(0x50, new Eeprom('24c02'));
      bus.attach(0x48, new Lm75());
      let n = 0;
      bus.attach(0x30, { start: () => !nacks[n++ % nacks.length], write: () => !nacks[n++ % nacks.length], read: () => n++, stop: () => undefined });
      const h = new Harness({ bus, packed, indirect });
      const rooms: number[] = [];
      for (const r of reqs) {
        const hdr = new Uint8Array(r.headerLen);
        hdr.set(header(r.addr, r.flags).subarray(0, Math.min(8, r.headerLen)));
        const out = cut(Uint8Array.from([...hdr, ...r.data]), r.cuts);
        const inLens = [r.readLen, r.status].filter((x) => x > 0);
        if (out.length + inLens.length === 0) continue;
        h.raw(0, out, inLens);
        rooms.push(r.readLen + r.status);
      }
      h.kick();
      expect(h.answers.length).toBe(rooms.length);
      h.answers.forEach((a, i) => {
        expect(a.len).toBe(rooms[i]!);
        if (a.len > 0) expect([I2cStatus.OK, I2cStatus.ERR]).toContain(a.status);
        if (a.status !== I2cStatus.OK) expect(a.data.every((b) => b === 0)).toBe(true);
      });
      for (const r of h.resets) expect(ALLOWED.has((r as Error).name)).toBe(true);
    }),
    { numRuns: 400 },
  );
});

it('well-formed transfers to a 24C02 leave exactly what a model of the chip says', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('write' as const), at: fc.integer({ min: 0, max: 255 }), data: fc.uint8Array({ maxLength: 20 }) }),
    fc.record({ kind: fc.constant('read' as const), at: fc.integer({ min: 0, max: 255 }), len: fc.integer({ min: 1, max: 300 }) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 20 }), (ops) => {
      const model = new Uint8Array(256).fill(0xff);
      const e = new Eeprom('24c02');
      const bus = new I2cBus();
      bus.attach(0x50, e);
      const h = new Harness({ bus });
      for (const o of ops) {
        if (o.kind === 'write') {
          expect(h.transfer([{ addr: 0x50, write: [o.at, ...o.data] }])[0]!.status).toBe(I2cStatus.OK);
          const base = o.at & ~7;
          o.data.forEach((b, i) => (model[base + ((o.at + i) & 7)] = b));
        } else {
          const got = h.transfer([{ addr: 0x50, write: [o.at] }, { addr: 0x50, read: o.len }])[1]!;
          expect(got.status).toBe(I2cStatus.OK);
          expect(got.data).toEqual(Array.from({ length: o.len }, (_, i) => model[(o.at + i) & 255]));
        }
      }
      expect([...e.memory]).toEqual([...model]);
    }),
    { numRuns: 200 },
  );
});

// FAIL_NEXT chains: the statuses of a group are OK up to its first failure and ERR from there.
it('a FAIL_NEXT group: OK up to the first failure, ERR from there to the end of the group', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ present: fc.boolean(), last: fc.boolean() }), { minLength: 1, maxLength: 16 }), (msgs) => {
      const bus = new I2cBus();
      bus.attach(0x20, { start: () => true, write: () => true, read: () => 0, stop: () => undefined });
      const h = new Harness({ bus });
      msgs.forEach((m, i) => h.raw(0, [header((m.present ? 0x20 : 0x21) << 1, i === msgs.length - 1 || m.last ? 0 : I2cFlags.FAIL_NEXT)], [1]));
      h.kick();
      const expected: number[] = [];
      let failed = false;
      msgs.forEach((m, i) => {
        if (!m.present) failed = true;
        expected.push(failed ? I2cStatus.ERR : I2cStatus.OK);
        if (i === msgs.length - 1 || m.last) failed = false;
      });
      expect(h.answers.map((a) => a.status)).toEqual(expected);
    }),
    { numRuns: 200 },
  );
});
