/**
 * The CDB parser and the target under arbitrary bytes: parseCdb is total (a command or an ILLEGAL
 * REQUEST sense, with a field pointer inside the CDB), accepts exactly the CDBs whose unused bits
 * are clear, and ScsiBus.execute answers any CDB with any buffers within the buffers' bounds,
 * never rejecting, never touching the backend outside its size.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { MemoryBackend } from '@vmv/block';
import { SUPPORTED_COMMANDS, ScsiBus, ScsiStatus, SenseKey, cdbLength, parseCdb } from '@vmv/scsi';
import { decodeSense } from './support/target.js';

/** CDBs: mostly a supported opcode with few bits set, so parsing gets past the opcode. */
const cdbArb = fc.oneof(
  fc.uint8Array({ maxLength: 32 }),
  fc.tuple(fc.constantFrom(...SUPPORTED_COMMANDS), fc.array(fc.tuple(fc.nat(31), fc.nat(255)), { maxLength: 6 }), fc.boolean()).map(([c, pokes, clean]) => {
    const b = new Uint8Array(32);
    b[0] = c.opcode;
    if (c.serviceAction !== undefined) b[1] = c.serviceAction;
    for (const [at, v] of pokes) b[at] = clean && at < c.usage.length ? v & c.usage[at]! : v;
    if (c.serviceAction !== undefined) b[1] = (b[1]! & 0xe0) | c.serviceAction;
    return b;
  }),
);

describe('parseCdb', () => {
  it('any bytes: a command, or ILLEGAL REQUEST with a pointer into the CDB; never an exception', () => {
    fc.assert(
      fc.property(cdbArb, (c) => {
        const r = parseCdb(c);
        if ('command' in r) {
          expect(r.length).toBe(cdbLength(c[0]!));
          const usage = SUPPORTED_COMMANDS.find((s) => s.opcode === c[0])!.usage;
          for (let i = 1; i < usage.length - 1; i++) expect(c[i]! & ~usage[i]!).toBe(0);
          expect(c[usage.length - 1]! & 0x05).toBe(0);
          return;
        }
        expect(r.sense.key).toBe(SenseKey.ILLEGAL_REQUEST);
        expect([0x20, 0x24]).toContain(r.sense.asc);
        if (r.sense.asc === 0x20) expect(SUPPORTED_COMMANDS.some((s) => s.opcode === c[0])).toBe(false);
        if (r.sense.field) {
          expect(r.sense.field.cdb).toBe(true);
          expect(r.sense.field.byte).toBeLessThan(Math.max(cdbLength(c[0]!), 1));
        }
      }),
      { numRuns: 5000 },
    );
  });
});

describe('ScsiBus.execute', () => {
  it('any CDB, any buffers: GOOD or CHECK CONDITION or an overrun, data within the buffers, sense well formed', async () => {
    const backend = new MemoryBackend(64 * 1024);
    const size = backend.size;
    // The target catches backend errors (a MEDIUM ERROR), so a bound check records, not throws.
    const violations: string[] = [];
    const within = (what: string, end: number) => { if (end > size) violations.push(`${what} to ${end}`); };
    const guarded = {
      get size() { return size; },
      read: (o: number, b: readonly Uint8Array[]) => { within('read', o + b.reduce((n, x) => n + x.length, 0)); backend.read(o, b); },
      write: (o: number, b: readonly Uint8Array[]) => { within('write', o + b.reduce((n, x) => n + x.length, 0)); backend.write(o, b); },
      flush: () => {},
      discard: (o: number, l: number) => within('discard', o + l),
      writeZeroes: (o: number, l: number) => within('writeZeroes', o + l),
    };
    const bus = new ScsiBus();
    bus.add(0, 0, { backend: guarded });
    bus.add(0, 1, { backend: new MemoryBackend(4096), readOnly: true });
    await fc.assert(
      fc.asyncProperty(cdbArb, fc.nat(2), fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 3 }), fc.nat(70_000), async (c, lun, out, inLength) => {
        const r = await bus.execute(0, lun, { cdb: c, dataOut: out, dataInLength: inLength });
        expect([ScsiStatus.GOOD, ScsiStatus.CHECK_CONDITION]).toContain(r.status);
        if (r.data !== null) expect(r.data.length).toBeLessThanOrEqual(inLength);
        expect(r.dataOutUsed).toBeLessThanOrEqual(out.reduce((n, x) => n + x.length, 0));
        if (r.status === ScsiStatus.CHECK_CONDITION) {
          expect(r.overrun).toBe(false);
          expect(decodeSense(r.sense).key).toBeGreaterThan(0);
        } else expect(r.sense).toBeNull();
      }),
      { numRuns: 3000 },
    );
    expect(violations).toEqual([]);
  });
});
