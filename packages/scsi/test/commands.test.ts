/**
 * The SCSI target, command by command, through ScsiBus.execute: every answer field by field
 * (SPC-4, SBC-3), and every error with its sense key, ASC, ASCQ and field pointer.
 */
import { describe, expect, it } from '@jest/globals';
import { MemoryBackend, readOnlyBackend } from '@vmv/block';
import { ScsiStatus, SenseKey, cdbLength } from '@vmv/scsi';
import { be16, be32, be64, cdb, decodeSense, makeBus, pattern } from './support/target.js';

const view = (b: Uint8Array | null) => new DataView(b!.buffer, b!.byteOffset, b!.byteLength);
const text = (b: Uint8Array | null, from: number, to: number) => String.fromCharCode(...b!.subarray(from, to));

describe('TEST UNIT READY, REQUEST SENSE and unit attentions', () => {
  it('reports POWER ON RESET once after creation, then GOOD', async () => {
    const { bus } = makeBus([]);
    bus.add(0, 0, { backend: new MemoryBackend(4096) });
    const r = await bus.execute(0, 0, { cdb: cdb.tur(), dataOut: [], dataInLength: 0 });
    expect(r.status).toBe(ScsiStatus.CHECK_CONDITION);
    expect(decodeSense(r.sense)).toEqual({ format: 'fixed', key: SenseKey.UNIT_ATTENTION, asc: 0x29, ascq: 0x00 });
    expect((await bus.execute(0, 0, { cdb: cdb.tur(), dataOut: [], dataInLength: 0 })).status).toBe(ScsiStatus.GOOD);
  });

  it('INQUIRY does not report a unit attention; REQUEST SENSE returns it and clears it', async () => {
    const { bus, run } = makeBus();
    bus.resize(0, 0, 1000);
    expect((await run(cdb.inquiry(), { inLength: 36 })).status).toBe(ScsiStatus.GOOD);
    const r = await run(cdb.requestSense(252), { inLength: 252 });
    expect(r.status).toBe(ScsiStatus.GOOD);
    expect(r.data!.length).toBe(18);
    expect(decodeSense(r.data)).toEqual({ format: 'fixed', key: SenseKey.UNIT_ATTENTION, asc: 0x2a, ascq: 0x09 });
    const none = await run(cdb.requestSense(252, true), { inLength: 252 });
    expect(Array.from(none.data!)).toEqual([0x72, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('REQUEST SENSE cuts to the allocation length', async () => {
    const { run } = makeBus();
    const r = await run(cdb.requestSense(8), { inLength: 252 });
    expect(r.data!.length).toBe(8);
    expect(r.data![0]).toBe(0x70);
  });

  it('START STOP UNIT stops and starts: NOT READY, INITIALIZING COMMAND REQUIRED in between', async () => {
    const { run } = makeBus();
    expect((await run(cdb.startStop(false))).status).toBe(ScsiStatus.GOOD);
    const tur = await run(cdb.tur());
    expect(decodeSense(tur.sense)).toMatchObject({ key: SenseKey.NOT_READY, asc: 0x04, ascq: 0x02 });
    expect(decodeSense((await run(cdb.read10(0, 1), { inLength: 512 })).sense)).toMatchObject({ key: SenseKey.NOT_READY });
    expect((await run(cdb.startStop(false, 2))).status).toBe(ScsiStatus.GOOD); // a power condition: no state change
    expect((await run(cdb.tur())).status).toBe(ScsiStatus.CHECK_CONDITION);
    await run(cdb.startStop(true));
    expect((await run(cdb.tur())).status).toBe(ScsiStatus.GOOD);
  });
});

describe('INQUIRY', () => {
  it('standard data: disk, SPC-4, HISUP, format 2, CMDQUE, identity padded', async () => {
    const { run } = makeBus([{ options: { vendor: 'ACME', product: 'Disk', revision: '2' } }]);
    const r = await run(cdb.inquiry(96), { inLength: 96 });
    const d = r.data!;
    expect(d.length).toBe(36);
    expect([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]).toEqual([0x00, 0x00, 0x06, 0x12, 31, 0, 0, 0x02]);
    expect(text(d, 8, 16)).toBe('ACME    ');
    expect(text(d, 16, 32)).toBe('Disk            ');
    expect(text(d, 32, 36)).toBe('2   ');
  });

  it('VPD 00h lists 00 80 83 B0 B1 B2', async () => {
    const { run } = makeBus();
    const d = (await run(cdb.inquiry(255, 0x00), { inLength: 255 })).data!;
    expect(Array.from(d)).toEqual([0, 0x00, 0, 6, 0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2]);
  });

  it('VPD 80h and 83h carry the serial', async () => {
    const { run } = makeBus([{ options: { serial: 'SN-1234' } }]);
    const sn = (await run(cdb.inquiry(255, 0x80), { inLength: 255 })).data!;
    expect([sn[1], view(sn).getUint16(2)]).toEqual([0x80, 7]);
    expect(text(sn, 4, 11)).toBe('SN-1234');
    const id = (await run(cdb.inquiry(255, 0x83), { inLength: 255 })).data!;
    expect([id[1], view(id).getUint16(2)]).toEqual([0x83, 4 + 8 + 7]);
    expect([id[4], id[5], id[6], id[7]]).toEqual([0x02, 0x01, 0x00, 15]);
    expect(text(id, 8, 23)).toBe('VMV     SN-1234');
  });

  it('VPD B0h: WSNZ, max transfer, unmap limits, max write same', async () => {
    const { run } = makeBus([{ options: { maxTransferBlocks: 1024, maxUnmapBlocks: 2048, maxUnmapDescriptors: 16, maxWriteSameBlocks: 4096 } }]);
    const d = (await run(cdb.inquiry(255, 0xb0), { inLength: 255 })).data!;
    const v = view(d);
    expect([d[1], v.getUint16(2), d[4]]).toEqual([0xb0, 0x3c, 0x01]);
    expect(v.getUint32(8)).toBe(1024);
    expect(v.getUint32(20)).toBe(2048);
    expect(v.getUint32(24)).toBe(16);
    expect(v.getUint32(28)).toBe(1);
    expect(v.getUint32(40)).toBe(4096);
    expect(d.length).toBe(64);
  });

  it('VPD B0h without unmap (read-only): unmap limits zero', async () => {
    const { run } = makeBus([{ options: { readOnly: true } }]);
    const v = view((await run(cdb.inquiry(255, 0xb0), { inLength: 255 })).data);
    expect([v.getUint32(20), v.getUint32(24)]).toEqual([0, 0]);
  });

  it('VPD B1h: rotation rate 1 for solid state, 0 otherwise', async () => {
    const { run } = makeBus([{ options: { solidState: true } }, { lun: 1 }]);
    const ssd = view((await run(cdb.inquiry(255, 0xb1), { inLength: 255 })).data);
    const hdd = view((await run(cdb.inquiry(255, 0xb1), { inLength: 255, lun: 1 })).data);
    expect([ssd.getUint8(1), ssd.getUint16(2), ssd.getUint16(4)]).toEqual([0xb1, 0x3c, 1]);
    expect(hdd.getUint16(4)).toBe(0);
  });

  it('VPD B2h: LBPU, LBPWS, LBPWS10 and thin provisioning with a discarding backend', async () => {
    const { run } = makeBus([{}, { lun: 1, options: { readOnly: true } }]);
    expect(Array.from((await run(cdb.inquiry(255, 0xb2), { inLength: 255 })).data!)).toEqual([0, 0xb2, 0, 4, 0, 0xe0, 0x02, 0]);
    expect(Array.from((await run(cdb.inquiry(255, 0xb2), { inLength: 255, lun: 1 })).data!)).toEqual([0, 0xb2, 0, 4, 0, 0, 0, 0]);
  });

  it('an unknown VPD page, or a page code without EVPD, is INVALID FIELD IN CDB byte 2', async () => {
    const { run } = makeBus();
    for (const c of [cdb.inquiry(255, 0x89), Uint8Array.of(0x12, 0, 0x80, 0, 255, 0)]) {
      const r = await run(c, { inLength: 255 });
      expect(decodeSense(r.sense)).toEqual({ format: 'fixed', key: SenseKey.ILLEGAL_REQUEST, asc: 0x24, ascq: 0, sks: [0xc0, 0, 2] });
    }
  });

  it('CMDDT (a reserved bit) is INVALID FIELD IN CDB byte 1 bit 1', async () => {
    const { run } = makeBus();
    const r = await run(Uint8Array.of(0x12, 0x02, 0, 0, 36, 0), { inLength: 36 });
    expect(decodeSense(r.sense).sks).toEqual([0xc0 | 0x08 | 1, 0, 1]);
  });
});

describe('REPORT LUNS and missing LUNs', () => {
  it('lists the target\'s LUNs, peripheral below 256 and flat space above', async () => {
    const { run } = makeBus([{ lun: 0 }, { lun: 5 }, { lun: 300 }, { target: 1, lun: 2 }]);
    const d = (await run(cdb.reportLuns(), { inLength: 4096 })).data!;
    expect(view(d).getUint32(0)).toBe(24);
    expect(Array.from(d.subarray(8))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0x41, 44, 0, 0, 0, 0, 0, 0]);
  });

  it('an allocation length below 16 is INVALID FIELD IN CDB byte 6; SELECT REPORT 0 to 2 only', async () => {
    const { run } = makeBus();
    expect(decodeSense((await run(cdb.reportLuns(8), { inLength: 8 })).sense)).toMatchObject({ asc: 0x24, sks: [0xc0, 0, 6] });
    const select = (n: number) => Uint8Array.of(0xa0, 0, n, 0, 0, 0, 0, 0, 0, 64, 0, 0);
    for (const n of [1, 2]) expect((await run(select(n), { inLength: 64 })).status).toBe(ScsiStatus.GOOD);
    expect(decodeSense((await run(select(3), { inLength: 64 })).sense)).toMatchObject({ asc: 0x24, sks: [0xc0, 0, 2] });
  });

  it('answers on a missing LUN of an existing target: INQUIRY with qualifier 3, others LOGICAL UNIT NOT SUPPORTED', async () => {
    const { run } = makeBus();
    const inq = await run(cdb.inquiry(), { inLength: 36, lun: 7 });
    expect(inq.data![0]).toBe(0x7f);
    expect((await run(cdb.reportLuns(), { inLength: 64, lun: 7 })).status).toBe(ScsiStatus.GOOD);
    expect(decodeSense((await run(cdb.tur(), { lun: 7 })).sense)).toMatchObject({ key: SenseKey.ILLEGAL_REQUEST, asc: 0x25, ascq: 0 });
    expect(decodeSense((await run(cdb.requestSense(), { lun: 7, inLength: 252 })).data)).toMatchObject({ key: SenseKey.ILLEGAL_REQUEST, asc: 0x25 });
  });

  it('a LUN added or removed raises REPORTED LUNS DATA HAS CHANGED on its siblings; REPORT LUNS clears it', async () => {
    const { bus, run } = makeBus();
    bus.add(0, 1, { backend: new MemoryBackend(4096) });
    expect(bus.unit(0, 0)!.pendingAttentions).toEqual([expect.objectContaining({ asc: 0x3f, ascq: 0x0e })]);
    await run(cdb.reportLuns(), { inLength: 64 });
    expect(bus.unit(0, 0)!.pendingAttentions).toEqual([]);
    bus.remove(0, 1);
    expect(decodeSense((await run(cdb.tur())).sense)).toMatchObject({ key: SenseKey.UNIT_ATTENTION, asc: 0x3f, ascq: 0x0e });
  });
});

describe('READ CAPACITY', () => {
  it('(10): last LBA and block length; past 2^32 blocks, FFFFFFFFh', async () => {
    const { run, bus } = makeBus([{ size: 1 << 20 }]);
    expect(Array.from((await run(cdb.readCapacity10(), { inLength: 8 })).data!)).toEqual([...be32(2047), ...be32(512)]);
    const huge = { size: 2 ** 41 + 512 * 8, read() {}, write() {}, flush() {} };
    bus.add(1, 0, { backend: huge });
    bus.unit(1, 0)!.takeAttention();
    expect(Array.from((await run(cdb.readCapacity10(), { inLength: 8, target: 1 })).data!)).toEqual([...be32(0xffffffff), ...be32(512)]);
    expect(Array.from((await run(cdb.readCapacity16(), { inLength: 32, target: 1 })).data!.subarray(0, 8))).toEqual(be64(2 ** 32 + 7));
  });

  it('(16): last LBA, block length, LBPME with unmap; cut to the allocation length', async () => {
    const { run } = makeBus([{ size: 1 << 20 }, { lun: 1, options: { readOnly: true } }]);
    const d = (await run(cdb.readCapacity16(), { inLength: 32 })).data!;
    expect(Array.from(d)).toEqual([...be64(2047), ...be32(512), 0, 0, 0x80, 0, ...new Array(16).fill(0)]);
    expect((await run(cdb.readCapacity16(), { inLength: 32, lun: 1 })).data![14]).toBe(0);
    expect((await run(cdb.readCapacity16(12), { inLength: 32 })).data!.length).toBe(12);
  });

  it('(10) into a buffer of fewer than 8 bytes is an overrun', async () => {
    const { run } = makeBus();
    expect((await run(cdb.readCapacity10(), { inLength: 4 })).overrun).toBe(true);
  });
});

describe('READ and WRITE', () => {
  const variants = [
    ['6', cdb.read6, cdb.write6],
    ['10', cdb.read10, cdb.write10],
    ['12', cdb.read12, cdb.write12],
    ['16', cdb.read16, cdb.write16],
  ] as const;
  for (const [name, read, write] of variants) {
    it(`(${name}) write then read the same bytes, at the right offset`, async () => {
      const { run, backends } = makeBus();
      const data = pattern(3 * 512, Number(name));
      const w = await run(write(100, 3), { out: [data.subarray(0, 700), data.subarray(700)] });
      expect([w.status, w.dataOutUsed]).toEqual([ScsiStatus.GOOD, 1536]);
      expect((backends[0] as MemoryBackend).data.subarray(100 * 512, 103 * 512)).toEqual(data);
      const r = await run(read(100, 3), { inLength: 4096 });
      expect(r.data).toEqual(data);
    });
  }

  it('a read with dataInTarget: asked once for exactly its bytes after the checks, reads into them, placed; otherwise data as before', async () => {
    const { bus, backends } = makeBus();
    const data = pattern(2 * 512, 9);
    (backends[0] as MemoryBackend).data.set(data, 10 * 512);
    const asked: number[] = [];
    const mine = [new Uint8Array(700), new Uint8Array(324)];
    const into = (length: number) => (asked.push(length), mine);
    const exec = (c: Uint8Array, dataInTarget: (n: number) => readonly Uint8Array[], inLength = 4096) => bus.execute(0, 0, { cdb: c, dataOut: [], dataInLength: inLength, dataInTarget });
    const r = await exec(cdb.read10(10, 2), into);
    expect([r.status, r.data, r.placed, asked]).toEqual([ScsiStatus.GOOD, null, 1024, [1024]]);
    expect(Uint8Array.of(...mine[0]!, ...mine[1]!)).toEqual(data);
    // not asked: another command, a read past the capacity, an overrun, 0 blocks
    for (const [c, inLength] of [[cdb.inquiry(36), 36], [cdb.read10(2048, 1), 4096], [cdb.read10(0, 2), 1000], [cdb.read10(0, 0), 512]] as const) {
      const x = await exec(c, into, inLength);
      expect(x.placed ?? 0).toBe(0);
    }
    expect(asked).toEqual([1024]);
    // buffers of another length, or a callback that throws: read into a new array
    for (const bad of [() => [new Uint8Array(1000)], () => [new Uint8Array(1024), new Uint8Array(1)], () => { throw new Error('x'); }, () => 'no' as unknown as Uint8Array[]]) {
      const x = await exec(cdb.read10(10, 2), bad);
      expect([x.status, x.placed ?? 0, x.data]).toEqual([ScsiStatus.GOOD, 0, data]);
    }
    // a backend failure: MEDIUM ERROR, nothing placed
    const failing = makeBus([{ backend: { size: 1 << 20, read: () => Promise.reject(new Error('EIO')), write() {}, flush() {} } }]);
    const f = await failing.bus.execute(0, 0, { cdb: cdb.read10(3, 1), dataOut: [], dataInLength: 512, dataInTarget: () => [new Uint8Array(512)] });
    expect([decodeSense(f.sense).key, f.placed ?? 0]).toEqual([SenseKey.MEDIUM_ERROR, 0]);
  });

  it('READ(6) with 0 blocks transfers 256', async () => {
    const { run } = makeBus();
    expect((await run(cdb.read6(0, 0), { inLength: 256 * 512 })).data!.length).toBe(256 * 512);
  });

  it('DPO and FUA are accepted on reads; RDPROTECT is not (no protection information)', async () => {
    const { run } = makeBus();
    expect((await run(Uint8Array.of(0x28, 0x18, 0, 0, 0, 0, 0, 0, 1, 0), { inLength: 512 })).status).toBe(ScsiStatus.GOOD);
    expect(decodeSense((await run(Uint8Array.of(0x28, 0x20, 0, 0, 0, 0, 0, 0, 1, 0), { inLength: 512 })).sense).sks).toEqual([0xc8 | 5, 0, 1]);
  });

  it('0 blocks in (10) transfers nothing', async () => {
    const { run } = makeBus();
    const r = await run(cdb.read10(5, 0), { inLength: 512 });
    expect([r.status, r.data]).toEqual([ScsiStatus.GOOD, null]);
  });

  it('past the capacity: LOGICAL BLOCK ADDRESS OUT OF RANGE, nothing done', async () => {
    const { run } = makeBus([{ size: 1 << 20 }]);
    for (const c of [cdb.read10(2047, 2), cdb.read16(2 ** 40, 1), cdb.read16(2048, 0), cdb.write16(0xffff_ffff * 0x1_0000_0000, 1)]) {
      const r = await run(c, { inLength: 2048, out: new Uint8Array(1024) });
      expect(decodeSense(r.sense)).toEqual({ format: 'fixed', key: SenseKey.ILLEGAL_REQUEST, asc: 0x21, ascq: 0 });
    }
    expect((await run(cdb.read10(2047, 1), { inLength: 512 })).status).toBe(ScsiStatus.GOOD);
  });

  it('more than the buffers hold: an overrun, nothing done', async () => {
    const { run, backends } = makeBus();
    expect((await run(cdb.read10(0, 2), { inLength: 1000 })).overrun).toBe(true);
    expect((await run(cdb.write10(0, 2), { out: new Uint8Array(1000).fill(1) })).overrun).toBe(true);
    expect((backends[0] as MemoryBackend).data.subarray(0, 1024).every((b) => b === 0)).toBe(true);
  });

  it('beyond the maximum transfer length: INVALID FIELD IN CDB at the transfer length', async () => {
    const { run } = makeBus([{ options: { maxTransferBlocks: 8 } }]);
    expect(decodeSense((await run(cdb.read10(0, 9), { inLength: 9 * 512 })).sense).sks).toEqual([0xc0, 0, 7]);
    expect(decodeSense((await run(cdb.write16(0, 9), { out: new Uint8Array(9 * 512) })).sense).sks).toEqual([0xc0, 0, 10]);
  });

  it('a read-only unit: WRITE PROTECTED; WP in mode sense', async () => {
    const { run } = makeBus([{ backend: readOnlyBackend(new MemoryBackend(1 << 20)) }]);
    expect(decodeSense((await run(cdb.write10(0, 1), { out: new Uint8Array(512) })).sense)).toEqual({ format: 'fixed', key: SenseKey.DATA_PROTECT, asc: 0x27, ascq: 0 });
    expect((await run(cdb.modeSense6(0x08), { inLength: 255 })).data![2]).toBe(0x90);
  });

  it('a backend failure is a MEDIUM ERROR with the LBA as information', async () => {
    const failing = { size: 1 << 20, read: () => Promise.reject(new Error('EIO')), write: () => { throw new Error('ENOSPC'); }, flush() {} };
    const { run } = makeBus([{ backend: failing }]);
    expect(decodeSense((await run(cdb.read10(42, 1), { inLength: 512 })).sense)).toEqual({ format: 'fixed', key: SenseKey.MEDIUM_ERROR, asc: 0x11, ascq: 0, information: 42 });
    expect(decodeSense((await run(cdb.write10(43, 1), { out: new Uint8Array(512) })).sense)).toEqual({ format: 'fixed', key: SenseKey.MEDIUM_ERROR, asc: 0x0c, ascq: 0, information: 43 });
  });

  it('FUA, or a disabled write cache, flushes each write', async () => {
    let flushes = 0;
    const mem = new MemoryBackend(1 << 20);
    const backend = { size: mem.size, read: mem.read.bind(mem), write: mem.write.bind(mem), flush: () => void flushes++ };
    const { run } = makeBus([{ backend }, { lun: 1, backend, options: { writeCache: false } }]);
    await run(cdb.write10(0, 1), { out: new Uint8Array(512) });
    expect(flushes).toBe(0);
    await run(cdb.write10(0, 1, true), { out: new Uint8Array(512) });
    expect(flushes).toBe(1);
    await run(cdb.write10(0, 1), { out: new Uint8Array(512), lun: 1 });
    expect(flushes).toBe(2);
  });
});

describe('VERIFY', () => {
  it('BYTCHK 0 checks the range only; 1 compares; 3 compares one block against each', async () => {
    const { run } = makeBus();
    const data = pattern(1024, 9);
    await run(cdb.write10(10, 2), { out: data });
    expect((await run(cdb.verify10(10, 2))).status).toBe(ScsiStatus.GOOD);
    expect(decodeSense((await run(cdb.verify16(2047, 2))).sense)).toMatchObject({ asc: 0x21 });
    expect((await run(cdb.verify10(10, 2, 1), { out: data })).status).toBe(ScsiStatus.GOOD);
    const bad = data.slice();
    bad[700] = bad[700]! ^ 1;
    expect(decodeSense((await run(cdb.verify16(10, 2, 1), { out: bad })).sense)).toEqual({ format: 'fixed', key: SenseKey.MISCOMPARE, asc: 0x1d, ascq: 0, information: 700 });
    const block = pattern(512, 3);
    await run(cdb.write10(20, 1), { out: block });
    await run(cdb.write10(21, 1), { out: block });
    expect((await run(cdb.verify10(20, 2, 3), { out: block })).status).toBe(ScsiStatus.GOOD);
    expect(decodeSense((await run(cdb.verify10(10, 1, 2))).sense).sks).toEqual([0xc8 | 2, 0, 1]);
  });

  it('comparing more than the maximum transfer length is INVALID FIELD IN CDB, before any buffer is taken', async () => {
    const huge = { size: 2 ** 40, read() { throw new Error('not expected'); }, write() {}, flush() {} };
    const { run } = makeBus([{ backend: huge, options: { maxTransferBlocks: 16 } }]);
    expect(decodeSense((await run(cdb.verify16(0, 2 ** 31, 3), { out: new Uint8Array(512) })).sense).sks).toEqual([0xc0, 0, 10]);
    expect(decodeSense((await run(cdb.verify10(0, 17, 1), { out: new Uint8Array(512) })).sense).sks).toEqual([0xc0, 0, 7]);
    expect((await run(cdb.verify16(0, 2 ** 31, 0))).status).toBe(ScsiStatus.GOOD);
  });
});

describe('WRITE SAME and UNMAP', () => {
  it('WRITE SAME(10) repeats the block; (16) with NDOB writes zeroes', async () => {
    const { run, backends } = makeBus();
    const mem = (backends[0] as MemoryBackend).data;
    const block = pattern(512, 5);
    const r = await run(cdb.writeSame10(4, 3), { out: block });
    expect([r.status, r.dataOutUsed]).toEqual([ScsiStatus.GOOD, 512]);
    for (let i = 4; i < 7; i++) expect(mem.subarray(i * 512, (i + 1) * 512)).toEqual(block);
    expect((await run(cdb.writeSame16(4, 2, false, true))).status).toBe(ScsiStatus.GOOD);
    expect(mem.subarray(4 * 512, 6 * 512).every((b) => b === 0)).toBe(true);
    expect(mem.subarray(6 * 512, 7 * 512)).toEqual(block);
  });

  it('WRITE SAME(16) with UNMAP and a zero block goes to writeZeroes with unmap allowed', async () => {
    const calls: unknown[] = [];
    const mem = new MemoryBackend(1 << 20);
    const backend = { size: mem.size, read: mem.read.bind(mem), write: mem.write.bind(mem), flush() {}, discard() {}, writeZeroes: (o: number, l: number, u: boolean) => void calls.push([o, l, u]) };
    const { run } = makeBus([{ backend }]);
    await run(cdb.writeSame16(8, 16, true), { out: new Uint8Array(512) });
    expect(calls).toEqual([[4096, 8192, true]]);
  });

  it('WRITE SAME: 0 blocks (WSNZ), too many blocks, UNMAP without provisioning, read-only', async () => {
    const { run } = makeBus([{ options: { maxWriteSameBlocks: 4 } }, { lun: 1, options: { readOnly: true } }]);
    expect(decodeSense((await run(cdb.writeSame10(0, 0), { out: new Uint8Array(512) })).sense).sks).toEqual([0xc0, 0, 7]);
    expect(decodeSense((await run(cdb.writeSame16(0, 5), { out: new Uint8Array(512) })).sense).sks).toEqual([0xc0, 0, 10]);
    expect(decodeSense((await run(cdb.writeSame16(0, 1, true), { out: new Uint8Array(512), lun: 1 })).sense)).toMatchObject({ key: SenseKey.DATA_PROTECT });
    expect((await run(cdb.writeSame10(0, 1))).overrun).toBe(true);
  });

  const unmapList = (ranges: [number, number][]) => {
    const b = new Uint8Array(8 + 16 * ranges.length);
    b.set(be16(6 + 16 * ranges.length), 0);
    b.set(be16(16 * ranges.length), 2);
    ranges.forEach(([lba, n], i) => {
      b.set(be64(lba), 8 + 16 * i);
      b.set(be32(n), 16 + 16 * i);
    });
    return b;
  };

  it('UNMAP discards each range', async () => {
    const calls: unknown[] = [];
    const mem = new MemoryBackend(1 << 20);
    const backend = { size: mem.size, read: mem.read.bind(mem), write: mem.write.bind(mem), flush() {}, discard: (o: number, l: number) => void calls.push([o, l]) };
    const { run } = makeBus([{ backend }]);
    const list = unmapList([[0, 8], [100, 0], [2000, 48]]);
    const r = await run(cdb.unmap(list.length), { out: list });
    expect([r.status, r.dataOutUsed]).toEqual([ScsiStatus.GOOD, list.length]);
    expect(calls).toEqual([[0, 4096], [1024000, 24576]]);
  });

  it('UNMAP: a range past the capacity discards nothing; bad lengths are sensed', async () => {
    const calls: unknown[] = [];
    const mem = new MemoryBackend(1 << 20);
    const backend = { size: mem.size, read: mem.read.bind(mem), write: mem.write.bind(mem), flush() {}, discard: (o: number) => void calls.push(o) };
    const { run } = makeBus([{ backend, options: { maxUnmapDescriptors: 2, maxUnmapBlocks: 100 } }]);
    const past = unmapList([[0, 8], [2040, 9]]);
    expect(decodeSense((await run(cdb.unmap(past.length), { out: past })).sense)).toMatchObject({ asc: 0x21 });
    expect(calls).toEqual([]);
    const many = unmapList([[0, 1], [1, 1], [2, 1]]);
    expect(decodeSense((await run(cdb.unmap(many.length), { out: many })).sense)).toEqual({ format: 'fixed', key: SenseKey.ILLEGAL_REQUEST, asc: 0x26, ascq: 0, sks: [0x80, 0, 2] });
    const big = unmapList([[0, 101]]);
    expect(decodeSense((await run(cdb.unmap(big.length), { out: big })).sense).sks).toEqual([0x80, 0, 16]);
    expect(decodeSense((await run(cdb.unmap(4), { out: new Uint8Array(4) })).sense)).toMatchObject({ asc: 0x1a });
    expect((await run(cdb.unmap(0))).status).toBe(ScsiStatus.GOOD);
    expect((await run(cdb.unmap(40), { out: new Uint8Array(24) })).overrun).toBe(true);
  });

  it('UNMAP on a unit whose backend cannot discard is an unsupported opcode', async () => {
    const { run } = makeBus([{ backend: { size: 4096, read() {}, write() {}, flush() {} } }]);
    expect(decodeSense((await run(cdb.unmap(24), { out: new Uint8Array(24) })).sense)).toMatchObject({ asc: 0x20, ascq: 0 });
  });
});

describe('SYNCHRONIZE CACHE', () => {
  it('(10) and (16) flush; a range past the capacity is sensed; a flush failure is a MEDIUM ERROR', async () => {
    let flushes = 0;
    let fail = false;
    const backend = { size: 1 << 20, read() {}, write() {}, flush: () => { flushes++; if (fail) throw new Error('EIO'); } };
    const { run } = makeBus([{ backend }]);
    expect((await run(cdb.sync10())).status).toBe(ScsiStatus.GOOD);
    expect((await run(cdb.sync16(10, 20))).status).toBe(ScsiStatus.GOOD);
    expect(flushes).toBe(2);
    expect(decodeSense((await run(cdb.sync16(2048, 1))).sense)).toMatchObject({ asc: 0x21 });
    fail = true;
    expect(decodeSense((await run(cdb.sync10())).sense)).toMatchObject({ key: SenseKey.MEDIUM_ERROR, asc: 0x0c });
  });
});

describe('MODE SENSE and MODE SELECT', () => {
  it('(6) caching page with a block descriptor, as sd reads it', async () => {
    const { run } = makeBus([{ size: 1 << 20 }]);
    const d = (await run(cdb.modeSense6(0x08), { inLength: 255 })).data!;
    expect(Array.from(d.subarray(0, 12))).toEqual([d.length - 1, 0, 0x10, 8, 0, 0, 0x08, 0x00, 0, 0, 0x02, 0x00]);
    expect(Array.from(d.subarray(12, 15))).toEqual([0x08, 0x12, 0x04]);
    expect(d.length).toBe(12 + 20);
  });

  it('(10) all pages, DBD, LLBAA; changeable and default values; saved values unsupported', async () => {
    const { run } = makeBus();
    const all = (await run(cdb.modeSense10(0x3f, 512, { dbd: true }), { inLength: 512 })).data!;
    expect(view(all).getUint16(0)).toBe(all.length - 2);
    expect(view(all).getUint16(6)).toBe(0);
    expect([all[8], all[8 + 12], all[8 + 12 + 20]]).toEqual([0x01, 0x08, 0x0a]);
    expect(all.length).toBe(8 + 12 + 20 + 12);
    const long = (await run(cdb.modeSense10(0x0a, 512, { llbaa: true }), { inLength: 512 })).data!;
    expect([long[4], view(long).getUint16(6), view(long).getUint32(8 + 4), view(long).getUint32(8 + 12)]).toEqual([1, 16, 2048, 512]);
    const changeable = (await run(cdb.modeSense6(0x3f, 255, { dbd: true, pc: 1 }), { inLength: 255 })).data!;
    expect([changeable[4 + 2], changeable[4 + 12 + 2], changeable[4 + 32 + 2]]).toEqual([0, 0x04, 0x04]);
    expect(decodeSense((await run(cdb.modeSense6(0x08, 255, { pc: 3 }), { inLength: 255 })).sense)).toMatchObject({ asc: 0x39, ascq: 0 });
    expect(decodeSense((await run(cdb.modeSense6(0x1c), { inLength: 255 })).sense).sks).toEqual([0xc8 | 5, 0, 2]);
    expect(decodeSense((await run(cdb.modeSense6(0x08, 255, { subpage: 1 }), { inLength: 255 })).sense).sks).toEqual([0xc0, 0, 3]);
  });

  const caching = (wce: boolean) => Uint8Array.of(0, 0, 0, 0, 0x08, 0x12, wce ? 0x04 : 0, ...new Array(17).fill(0));

  it('MODE SELECT(6) clears WCE (writes then flush); MODE SELECT(10) sets D_SENSE (descriptor sense)', async () => {
    const { bus, run } = makeBus();
    const list = caching(false);
    expect((await run(cdb.modeSelect6(list.length), { out: list })).status).toBe(ScsiStatus.GOOD);
    expect(bus.unit(0, 0)!.writeCache).toBe(false);
    expect((await run(cdb.modeSense6(0x08, 255, { dbd: true }), { inLength: 255 })).data![6]).toBe(0);
    // Defaults keep the configured value.
    expect((await run(cdb.modeSense6(0x08, 255, { dbd: true, pc: 2 }), { inLength: 255 })).data![6]).toBe(0x04);
    const control = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0x0a, 0x04, 0x10, 0, 0, 0, 0, 0, 0, 0, 0);
    expect((await run(cdb.modeSelect10(control.length), { out: control })).status).toBe(ScsiStatus.GOOD);
    const r = await run(cdb.read10(5000, 1), { inLength: 512 });
    expect(decodeSense(r.sense)).toEqual({ format: 'descriptor', key: SenseKey.ILLEGAL_REQUEST, asc: 0x21, ascq: 0 });
    const fp = await run(Uint8Array.of(0x12, 0x04, 0, 0, 36, 0), { inLength: 36 });
    expect(decodeSense(fp.sense)).toEqual({ format: 'descriptor', key: SenseKey.ILLEGAL_REQUEST, asc: 0x24, ascq: 0, sks: [0xc8 | 2, 0, 1] });
  });

  it('MODE SELECT refuses a non-changeable bit, a wrong page length, an unknown page, a truncated list, SP; and changes nothing', async () => {
    const { bus, run } = makeBus();
    const bad = caching(false);
    bad[6] = 0x01; // RCD: not changeable
    expect(decodeSense((await run(cdb.modeSelect6(bad.length), { out: bad })).sense)).toEqual({ format: 'fixed', key: SenseKey.ILLEGAL_REQUEST, asc: 0x26, ascq: 0, sks: [0x88, 0, 6] });
    expect(bus.unit(0, 0)!.writeCache).toBe(true);
    const length = caching(false);
    length[5] = 0x10;
    expect(decodeSense((await run(cdb.modeSelect6(length.length), { out: length })).sense).sks).toEqual([0x80, 0, 5]);
    const unknown = caching(false);
    unknown[4] = 0x1c;
    expect(decodeSense((await run(cdb.modeSelect6(unknown.length), { out: unknown })).sense).sks).toEqual([0x88 | 5, 0, 4]);
    expect(decodeSense((await run(cdb.modeSelect6(10), { out: caching(false).subarray(0, 10) })).sense)).toMatchObject({ asc: 0x1a });
    expect(decodeSense((await run(Uint8Array.of(0x15, 0x11, 0, 0, 24, 0), { out: caching(false) })).sense).sks).toEqual([0xc8, 0, 1]);
    expect((await run(cdb.modeSelect6(24), { out: new Uint8Array(10) })).overrun).toBe(true);
    expect(bus.unit(0, 0)!.writeCache).toBe(true);
  });

  it('MODE SELECT with a block descriptor of 512-byte blocks is accepted; another block length is not', async () => {
    const { run } = makeBus();
    const list = Uint8Array.of(0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 2, 0, 0x08, 0x12, 0x04, ...new Array(17).fill(0));
    expect((await run(cdb.modeSelect6(list.length), { out: list })).status).toBe(ScsiStatus.GOOD);
    list[10] = 4;
    expect(decodeSense((await run(cdb.modeSelect6(list.length), { out: list })).sense).sks).toEqual([0x80, 0, 8]);
  });
});

describe('REPORT SUPPORTED OPERATION CODES', () => {
  it('all commands: 8-byte descriptors, SERVACTV for service actions, CDB lengths', async () => {
    const { run } = makeBus();
    const d = (await run(cdb.reportOpcodes(0), { inLength: 8192 })).data!;
    const n = view(d).getUint32(0) / 8;
    const entries = Array.from({ length: n }, (_, i) => d.subarray(4 + 8 * i, 12 + 8 * i));
    const find = (op: number) => entries.find((e) => e[0] === op)!;
    expect(Array.from(find(0x28))).toEqual([0x28, 0, 0, 0, 0, 0, 0, 10]);
    expect(Array.from(find(0x9e))).toEqual([0x9e, 0, 0, 0x10, 0, 1, 0, 16]);
    expect(Array.from(find(0x42))).toEqual([0x42, 0, 0, 0, 0, 0, 0, 10]);
    expect(n).toBe(27);
  });

  it('with RCTD: timeouts descriptors; without unmap: UNMAP not listed', async () => {
    const { run } = makeBus([{ options: { readOnly: true } }]);
    const d = (await run(cdb.reportOpcodes(0, 0, 0, 8192, true), { inLength: 8192 })).data!;
    expect(view(d).getUint32(0)).toBe(26 * 20);
    expect([d[4 + 5], d[4 + 8], d[4 + 9]]).toEqual([0x02, 0, 0x0a]);
  });

  it('one command: supported with its usage data, or not supported; options checked against service actions', async () => {
    const { run } = makeBus();
    expect(Array.from((await run(cdb.reportOpcodes(1, 0x2a), { inLength: 512 })).data!)).toEqual([0, 3, 0, 10, 0x2a, 0x18, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0]);
    expect(Array.from((await run(cdb.reportOpcodes(1, 0x55 + 1), { inLength: 512 })).data!)).toEqual([0, 1, 0, 0]);
    expect((await run(cdb.reportOpcodes(2, 0x9e, 0x10), { inLength: 512 })).data!.subarray(0, 6)).toEqual(Uint8Array.of(0, 3, 0, 16, 0x9e, 0x1f));
    expect((await run(cdb.reportOpcodes(3, 0x28, 0x77), { inLength: 512 })).data![1]).toBe(3);
    expect((await run(cdb.reportOpcodes(3, 0x9e, 0x11), { inLength: 512 })).data![1]).toBe(1);
    expect(decodeSense((await run(cdb.reportOpcodes(1, 0x9e), { inLength: 512 })).sense).sks).toEqual([0xca, 0, 2]);
    expect(decodeSense((await run(cdb.reportOpcodes(2, 0x28), { inLength: 512 })).sense).sks).toEqual([0xca, 0, 2]);
    expect(decodeSense((await run(cdb.reportOpcodes(5), { inLength: 512 })).sense).sks).toEqual([0xca, 0, 2]);
  });
});

describe('anything else', () => {
  it('an unknown opcode is INVALID COMMAND OPERATION CODE; NACA and LINK in the control byte are invalid fields', async () => {
    const { run } = makeBus();
    for (const op of [0x04, 0x1d, 0x7f, 0xc0, 0xff]) {
      expect(decodeSense((await run(Uint8Array.of(op, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))).sense)).toEqual({ format: 'fixed', key: SenseKey.ILLEGAL_REQUEST, asc: 0x20, ascq: 0 });
    }
    expect(decodeSense((await run(Uint8Array.of(0, 0, 0, 0, 0, 4))).sense).sks).toEqual([0xca, 0, 5]);
    expect(decodeSense((await run(Uint8Array.of(0, 0, 0, 0, 0, 1))).sense).sks).toEqual([0xc8, 0, 5]);
    expect(decodeSense((await run(Uint8Array.of(0x28, 0, 0))).sense).sks).toEqual([0xc0, 0, 0]);
    expect(decodeSense((await run(new Uint8Array(0))).sense)).toMatchObject({ asc: 0x20 });
  });
});

describe('sense formats, bus and unit details', () => {
  it('descriptor sense carries the information field as 8 bytes; fixed sense drops VALID past 2^32', async () => {
    const failing = { size: 2 ** 44, read: () => Promise.reject(new Error('EIO')), write() {}, flush() {} };
    const { bus, run } = makeBus([{ backend: failing }]);
    const far = 2 ** 33 + 5;
    expect(decodeSense((await run(cdb.read16(far, 1), { inLength: 512 })).sense)).toEqual({ format: 'fixed', key: SenseKey.MEDIUM_ERROR, asc: 0x11, ascq: 0 });
    const control = Uint8Array.of(0, 0, 0, 0, 0x0a, 0x0a, 0x04, 0x10, 0, 0, 0, 0, 0, 0, 0, 0);
    await run(cdb.modeSelect6(control.length), { out: control });
    expect(bus.unit(0, 0)!.descriptorSense).toBe(true);
    const r = await run(cdb.read16(far, 1), { inLength: 512 });
    expect(Array.from(r.sense!.subarray(0, 8))).toEqual([0x72, SenseKey.MEDIUM_ERROR, 0x11, 0, 0, 0, 0, 12]);
    expect(Array.from(r.sense!.subarray(8))).toEqual([0x00, 0x0a, 0x80, 0, ...be64(far)]);
    expect(decodeSense(r.sense)).toEqual({ format: 'descriptor', key: SenseKey.MEDIUM_ERROR, asc: 0x11, ascq: 0, information: far });
  });

  it('cdbLength by opcode group; groups without a fixed length are unsupported', async () => {
    expect([0x00, 0x28, 0x55, 0x88, 0xa8, 0x7f, 0xc0, 0xe0].map(cdbLength)).toEqual([6, 10, 10, 16, 12, 0, 0, 0]);
  });

  it('resize re-reads the backend or takes a capacity within it; listeners hear of it and can stop', async () => {
    const mem = new MemoryBackend(1 << 20);
    const { bus } = makeBus([{ backend: mem }]);
    const heard: string[] = [];
    const stop = bus.subscribe((c) => heard.push(`${c.type}:${c.target}:${c.lun}`));
    expect(bus.unit(0, 0)!.capacity).toBe(2048);
    mem.resize(2 << 20);
    expect(bus.resize(0, 0)).toBe(true);
    expect(bus.unit(0, 0)!.capacity).toBe(4096);
    expect(bus.resize(0, 0)).toBe(false);
    expect(bus.resize(0, 0, 100)).toBe(true);
    expect(() => bus.resize(0, 0, 5000)).toThrow(RangeError);
    expect(() => bus.resize(0, 3)).toThrow(RangeError);
    stop();
    bus.add(0, 1, { backend: new MemoryBackend(4096) });
    expect(heard).toEqual(['resized:0:0', 'resized:0:0']);
  });

  it('refuses a backend without read, write and flush, bad addresses, a taken address, bad limits', () => {
    const { bus } = makeBus();
    expect(() => bus.add(0, 1, { backend: { size: 512 } as never })).toThrow(TypeError);
    expect(() => bus.add(0, 0, { backend: new MemoryBackend(512) })).toThrow(RangeError);
    expect(() => bus.add(256, 0, { backend: new MemoryBackend(512) })).toThrow(RangeError);
    expect(() => bus.add(0, 16384, { backend: new MemoryBackend(512) })).toThrow(RangeError);
    expect(() => bus.add(0, 2, { backend: new MemoryBackend(512), maxTransferBlocks: 0 })).toThrow(RangeError);
    expect(() => bus.add(0, 3, { backend: { size: 100, read() {}, write() {}, flush() {} } })).toThrow(RangeError);
    expect(bus.remove(0, 9)).toBe(false);
    expect(bus.luns(0)).toEqual([0]);
  });

  it('WRITE SAME with UNMAP and zeroes discards when the backend has no writeZeroes but can unmap', async () => {
    const calls: unknown[] = [];
    const backend = { size: 1 << 20, canUnmap: true, read() {}, write: () => void calls.push('write'), flush() {}, discard: (o: number, l: number) => void calls.push([o, l]) };
    const { run } = makeBus([{ backend }]);
    await run(cdb.writeSame16(2, 4, true), { out: new Uint8Array(512) });
    await run(cdb.writeSame16(2, 4, false), { out: new Uint8Array(512) });
    expect(calls).toEqual([[1024, 2048], 'write']);
  });
});
