/**
 * ScsiDevice through @vmv/transport-mmio, driven by a model of Linux's virtio_scsi: the config
 * (§5.6.4), what Linux's scan and sd do at probe, data checksummed over several request queues
 * with chains cut anywhere, the response codes a hostile guest earns (§5.6.6.1), task management
 * and AN requests (§5.6.6.2), hot-plug, resize and missed events (§5.6.6.3), and resets.
 */
import { describe, expect, it } from '@jest/globals';
import { MemoryBackend } from '@vmv/block';
import type { BlockBackend } from '@vmv/block';
import {
  ControlType,
  SCSI_CONFIG_SIZE,
  ScsiConfigOffset as O,
  ScsiDevice,
  ScsiEvent,
  ScsiStatus,
  TmfSubtype,
  TransportResetReason,
  VirtioScsiResponse as R,
  encodeLun,
} from '@vmv/scsi';
import { cdb, decodeSense, pattern } from './support/target.js';
import { LinuxScsi, until } from './support/linux-scsi.js';

function setup(opts: { numQueues?: number; split?: number[]; indirect?: number; packed?: boolean; backends?: BlockBackend[]; directReads?: boolean } = {}) {
  const device = new ScsiDevice({ numQueues: opts.numQueues ?? 2, directReads: opts.directReads });
  const backends = opts.backends ?? [new MemoryBackend(8 << 20), new MemoryBackend(1 << 20)];
  backends.forEach((backend, lun) => device.bus.add(0, lun, { backend, solidState: true }));
  const guest = new LinuxScsi(device, { split: opts.split, indirect: opts.indirect, packed: opts.packed });
  guest.probe();
  return { device, guest, backends };
}

/** REQUEST SENSE until no unit attention is left (as the midlayer's retries do). */
async function drain(guest: LinuxScsi, target: number, lun: number) {
  for (let i = 0; i < 8; i++) {
    const r = await guest.command(target, lun, cdb.requestSense(), { inLength: 252 });
    if (r.data[2] === 0) return;
  }
  throw new Error('unit attentions do not end');
}

/** sd's probe of one disk: TUR until the unit attention is gone, capacity, caching page, VPD pages. */
async function sdProbe(guest: LinuxScsi, target: number, lun: number) {
  let tur = await guest.command(target, lun, cdb.tur());
  let attentions = 0;
  while (tur.status === ScsiStatus.CHECK_CONDITION && decodeSense(tur.sense).key === 0x6 && attentions < 4) {
    attentions++;
    tur = await guest.command(target, lun, cdb.tur());
  }
  const cap = await guest.command(target, lun, cdb.readCapacity16(32), { inLength: 32 });
  const caching = await guest.command(target, lun, cdb.modeSense6(0x08, 255, { dbd: true }), { inLength: 255 });
  const vpd = await guest.command(target, lun, cdb.inquiry(255, 0x00), { inLength: 255 });
  const limits = await guest.command(target, lun, cdb.inquiry(64, 0xb0), { inLength: 64 });
  const chars = await guest.command(target, lun, cdb.inquiry(64, 0xb1), { inLength: 64 });
  const lbp = await guest.command(target, lun, cdb.inquiry(8, 0xb2), { inLength: 8 });
  return { tur, attentions, cap, caching, vpd, limits, chars, lbp };
}

describe('config (§5.6.4)', () => {
  it('reports num_queues, seg_max, max_sectors, cmd_per_lun, event_info_size, sizes and scan bounds', () => {
    const device = new ScsiDevice({ numQueues: 3, queueSize: 64, cmdPerLun: 32, maxSectors: 2048, maxTarget: 7, maxLun: 255 });
    const b = new Uint8Array(SCSI_CONFIG_SIZE);
    device.readConfig(0, b);
    const v = new DataView(b.buffer);
    expect([O.NUM_QUEUES, O.SEG_MAX, O.MAX_SECTORS, O.CMD_PER_LUN, O.EVENT_INFO_SIZE, O.SENSE_SIZE, O.CDB_SIZE].map((o) => v.getUint32(o, true))).toEqual([3, 62, 2048, 32, 16, 96, 32]);
    expect([v.getUint16(O.MAX_CHANNEL, true), v.getUint16(O.MAX_TARGET, true), v.getUint32(O.MAX_LUN, true)]).toEqual([0, 7, 255]);
    expect(device.queueMaxSizes).toEqual([64, 64, 64, 64, 64]);
    expect(device.deviceId).toBe(8);
  });

  it('sense_size and cdb_size are writable, bounded, and back to 96 and 32 on reset; other fields are not writable', () => {
    const device = new ScsiDevice();
    const le = (n: number) => Uint8Array.of(n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24);
    device.writeConfig(O.SENSE_SIZE, le(18));
    device.writeConfig(O.CDB_SIZE, le(16));
    device.writeConfig(O.NUM_QUEUES, le(9));
    device.writeConfig(O.CDB_SIZE, le(256));
    device.writeConfig(O.SENSE_SIZE, le(0x10000));
    expect([device.senseSize, device.cdbSize]).toEqual([18, 16]);
    const b = new Uint8Array(4);
    device.readConfig(O.NUM_QUEUES, b);
    expect(b[0]).toBe(1);
    device.reset();
    expect([device.senseSize, device.cdbSize]).toEqual([96, 32]);
  });

  it('offers VERSION_1, EVENT_IDX, HOTPLUG and CHANGE, and not INOUT or T10_PI', () => {
    const f = new ScsiDevice().deviceFeatures;
    for (const bit of [32, 29, 1, 2]) expect((f >> BigInt(bit)) & 1n).toBe(1n);
    for (const bit of [0, 3]) expect((f >> BigInt(bit)) & 1n).toBe(0n);
    const none = new ScsiDevice({ hotplug: false, change: false }).deviceFeatures;
    expect((none >> 1n) & 3n).toBe(0n);
  });

  it('refuses bad options', () => {
    expect(() => new ScsiDevice({ numQueues: 0 })).toThrow(RangeError);
    expect(() => new ScsiDevice({ queueSize: 1 })).toThrow(RangeError);
    expect(() => new ScsiDevice({ maxTarget: 256 })).toThrow(RangeError);
    expect(() => new ScsiDevice({ inFlight: 500 })).toThrow(RangeError);
  });
});

describe('what Linux does at probe', () => {
  it('scan: INQUIRY on LUN 0, REPORT LUNS, then sd: TUR through the unit attention, READ CAPACITY(16), caching page, VPD pages', async () => {
    const { guest } = setup();
    expect(guest.negotiated & 0b110n).toBe(0b110n);
    expect(guest.numQueues).toBe(2);
    const inq = await guest.command(0, 0, cdb.inquiry(36), { inLength: 36 });
    expect([inq.response, inq.status, inq.residual, inq.senseLength]).toEqual([R.OK, ScsiStatus.GOOD, 0, 0]);
    expect([inq.data[0], inq.data[2], inq.data[3]! & 0x0f]).toEqual([0, 6, 2]);
    const luns = await guest.command(0, 0, cdb.reportLuns(4096), { inLength: 4096 });
    expect(Array.from(luns.data.subarray(0, 24))).toEqual([0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(luns.residual).toBe(4096 - 24);
    for (const lun of [0, 1]) {
      const p = await sdProbe(guest, 0, lun);
      expect([p.attentions, p.tur.status]).toEqual([1, ScsiStatus.GOOD]);
      const cap = new DataView(p.cap.data.buffer);
      expect([cap.getBigUint64(0), cap.getUint32(8)]).toEqual([lun === 0 ? 16383n : 2047n, 512]);
      expect(p.caching.data.subarray(4, 7)).toEqual(Uint8Array.of(0x08, 0x12, 0x04));
      expect(Array.from(p.vpd.data.subarray(4, 10))).toEqual([0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2]);
      expect(new DataView(p.limits.data.buffer).getUint32(8)).toBe(65535);
      expect(new DataView(p.chars.data.buffer).getUint16(4)).toBe(1);
      expect(p.lbp.data[5]).toBe(0xe0);
    }
  });

  it('the missing LUNs of the target: INQUIRY qualifier 3, commands LOGICAL UNIT NOT SUPPORTED; another target: BAD_TARGET', async () => {
    const { guest } = setup();
    const inq = await guest.command(0, 9, cdb.inquiry(36), { inLength: 36 });
    expect([inq.response, inq.data[0]]).toEqual([R.OK, 0x7f]);
    const tur = await guest.command(0, 9, cdb.tur());
    expect(decodeSense(tur.sense)).toMatchObject({ key: 5, asc: 0x25 });
    const other = await guest.command(1, 0, cdb.inquiry(36), { inLength: 36 });
    expect([other.response, other.residual]).toEqual([R.BAD_TARGET, 36]);
  });
});

describe('data (checksummed)', () => {
  const layouts = [
    { name: 'one descriptor per buffer' },
    { name: 'buffers cut into 1, 7 and 300 bytes', split: [1, 7, 300] },
    { name: 'indirect tables', indirect: 16, split: [5, 100] },
    { name: 'packed rings', packed: true, split: [13] },
    { name: 'reads straight into guest buffers (directReads), cut into 1, 7 and 300 bytes', split: [1, 7, 300], directReads: true },
    { name: 'reads straight into guest buffers (directReads), indirect tables', indirect: 16, split: [5, 100], directReads: true },
  ];
  for (const l of layouts) {
    it(`writes and reads back 64 commands over two request queues: ${l.name}`, async () => {
      const { guest, backends } = setup({ split: l.split, indirect: l.indirect, packed: l.packed, directReads: l.directReads });
      await sdProbe(guest, 0, 0);
      // Eight at a time: a command cut into 16 descriptors, 4 per queue, fills half a ring of 128.
      for (let batch = 0; batch < 32; batch += 8) {
        const writes = [];
        for (let i = batch; i < batch + 8; i++) {
          const blocks = 1 + (i % 16);
          writes.push(guest.command(0, 0, cdb.write10(i * 64, blocks), { out: pattern(blocks * 512, i), queue: i % 2 }));
        }
        for (const w of await Promise.all(writes)) expect([w.response, w.status, w.residual]).toEqual([R.OK, ScsiStatus.GOOD, 0]);
      }
      const mem = (backends[0] as MemoryBackend).data;
      for (let i = 0; i < 32; i++) {
        const blocks = 1 + (i % 16);
        expect(sum(mem.subarray(i * 64 * 512, (i * 64 + blocks) * 512))).toBe(sum(pattern(blocks * 512, i)));
      }
      const got = [];
      for (let batch = 0; batch < 32; batch += 8) {
        const reads = [];
        for (let i = batch; i < batch + 8; i++) reads.push(guest.command(0, 0, cdb.read16(i * 64, 1 + (i % 16)), { inLength: (1 + (i % 16)) * 512 + 100, queue: (i + 1) % 2 }));
        got.push(...(await Promise.all(reads)));
      }
      got.forEach((r, i) => {
        const n = (1 + (i % 16)) * 512;
        expect([r.response, r.status, r.residual, r.used]).toEqual([R.OK, ScsiStatus.GOOD, 100, 12 + 96 + n]);
        expect(sum(r.data.subarray(0, n))).toBe(sum(pattern(n, i)));
      });
    });
  }
});

describe('what a hostile guest gets (§5.6.6.1)', () => {
  it('a LUN in another format: BAD_TARGET', async () => {
    const { guest } = setup();
    for (const lunBytes of [Uint8Array.of(0xc1, 0x01, 0, 0, 0, 0, 0, 0), Uint8Array.of(0, 0, 0x40, 0, 0, 0, 0, 0), Uint8Array.of(1, 0, 0x80, 0, 0, 0, 0, 0), Uint8Array.of(1, 0, 0x40, 0, 0, 0, 0, 1), Uint8Array.of(1, 0, 0x01, 0, 0, 0, 0, 0)]) {
      expect((await guest.command(0, 0, cdb.tur(), { lunBytes })).response).toBe(R.BAD_TARGET);
    }
    expect((await guest.command(0, 0, cdb.tur(), { lunBytes: Uint8Array.of(1, 0, 0, 1, 0, 0, 0, 0) })).response).toBe(R.OK);
  });

  it('a CDB that wants more than the buffers: OVERRUN, residual the whole buffer', async () => {
    const { guest } = setup();
    await sdProbe(guest, 0, 0);
    const r = await guest.command(0, 0, cdb.read10(0, 4), { inLength: 1024 });
    expect([r.response, r.residual]).toEqual([R.OVERRUN, 1024]);
    const w = await guest.command(0, 0, cdb.write10(0, 4), { out: new Uint8Array(1000) });
    expect([w.response, w.residual]).toEqual([R.OVERRUN, 1000]);
  });

  it('data both ways without INOUT: FAILURE; a request shorter than its header: FAILURE, or nothing without room for a response', async () => {
    const { guest } = setup();
    expect((await guest.command(0, 0, cdb.tur(), { out: new Uint8Array(512), inLength: 512 })).response).toBe(R.FAILURE);
    expect((await guest.command(0, 0, cdb.tur(), { headerLength: 30 })).response).toBe(R.FAILURE);
    const short = await guest.command(0, 0, cdb.tur(), { responseLength: 50 });
    expect([short.response, short.used]).toEqual([R.FAILURE, 12]);
    const none = await guest.command(0, 0, cdb.tur(), { responseLength: 8 });
    expect(none.used).toBe(0);
  });

  it('an unknown opcode is CHECK CONDITION with sense; sense_size cuts it; cdb_size is honoured', async () => {
    const { guest } = setup();
    await sdProbe(guest, 0, 0);
    const r = await guest.command(0, 0, Uint8Array.of(0xc5, 0, 0, 0, 0, 0));
    expect([r.response, r.status, r.senseLength]).toEqual([R.OK, ScsiStatus.CHECK_CONDITION, 18]);
    expect(decodeSense(r.sense)).toMatchObject({ key: 5, asc: 0x20 });
    guest.setSizes(10, 8);
    const cut = await guest.command(0, 0, Uint8Array.of(0xc5, 0, 0, 0, 0, 0));
    expect([cut.senseLength, cut.used]).toEqual([8, 20]);
    expect(cut.sense[12 - 12 + 0]).toBe(0x70);
    // A 16-byte CDB does not fit a cdb_size of 10: the target sees it cut, and says so.
    const cut16 = await guest.command(0, 0, cdb.read16(0, 1), { inLength: 512 });
    expect([cut16.response, cut16.status]).toEqual([R.OK, ScsiStatus.CHECK_CONDITION]);
    expect((await guest.command(0, 0, cdb.read10(0, 1), { inLength: 512 })).status).toBe(ScsiStatus.GOOD);
  });

  it('a corrupted event ring is DEVICE_NEEDS_RESET when an event goes out', async () => {
    const { guest, device } = setup();
    guest.memory.writeU16(guest.queue(1).driverArea + 2, 1000);
    expect(guest.driver.needsReset()).toBe(false);
    device.bus.add(0, 5, { backend: new MemoryBackend(4096) });
    expect(guest.driver.needsReset()).toBe(true);
  });

  it('a corrupted ring is DEVICE_NEEDS_RESET, not an exception', async () => {
    const { guest } = setup();
    const q = guest.queue(2);
    guest.memory.writeU16(q.driverArea + 2, 1000);
    q.notify();
    expect(guest.driver.needsReset()).toBe(true);
  });
});

describe('task management and AN (§5.6.6.2)', () => {
  /** A backend whose reads wait until released. */
  function gated() {
    const mem = new MemoryBackend(1 << 20);
    const gates: (() => void)[] = [];
    const backend: BlockBackend = {
      size: mem.size,
      read: (o, b) => new Promise<void>((resolve) => gates.push(() => { mem.read(o, b); resolve(); })),
      write: (o, b) => mem.write(o, b),
      flush() {},
    };
    return { backend, release: () => { while (gates.length > 0) gates.shift()!(); }, pending: () => gates.length };
  }

  it('ABORT TASK: the command completes ABORTED before the TMF completes', async () => {
    const g = gated();
    const { guest, device } = setup({ backends: [g.backend] });
    await drain(guest, 0, 0);
    const task = guest.start(0, 0, cdb.read10(0, 1), { inLength: 512 });
    await until(() => g.pending() === 1);
    expect(await guest.tmf(TmfSubtype.QUERY_TASK, 0, 0, task.id)).toBe(R.FUNCTION_SUCCEEDED);
    const abort = guest.tmf(TmfSubtype.ABORT_TASK, 0, 0, task.id);
    await until(() => device.commandsInFlight === 1);
    expect(await guest.tmf(TmfSubtype.QUERY_TASK, 0, 0, task.id)).toBe(R.FUNCTION_COMPLETE);
    g.release();
    expect(await abort).toBe(R.FUNCTION_COMPLETE);
    expect((await task.done).response).toBe(R.ABORTED);
    // When the driver sees the TMF's used buffer, the command was completed already (§5.6.6.2).
    expect(guest.completions.find((c) => c.tag.startsWith('tmf:0#'))!.inFlight).toBe(0);
  });

  it('LOGICAL UNIT RESET: commands on the unit complete RESET, then BUS DEVICE RESET unit attention; I_T NEXUS RESET likewise', async () => {
    const g = gated();
    const { guest } = setup({ backends: [g.backend, new MemoryBackend(1 << 20)] });
    for (const lun of [0, 1]) await drain(guest, 0, lun);
    const t = guest.start(0, 0, cdb.read10(0, 1), { inLength: 512 });
    await until(() => g.pending() === 1);
    const reset = guest.tmf(TmfSubtype.LOGICAL_UNIT_RESET, 0, 0);
    g.release();
    expect(await reset).toBe(R.FUNCTION_COMPLETE);
    expect((await t.done).response).toBe(R.RESET);
    expect(decodeSense((await guest.command(0, 0, cdb.tur())).sense)).toMatchObject({ key: 6, asc: 0x29, ascq: 0x03 });
    expect((await guest.command(0, 1, cdb.tur())).status).toBe(ScsiStatus.GOOD);
    expect(await guest.tmf(TmfSubtype.I_T_NEXUS_RESET, 0, 5)).toBe(R.FUNCTION_COMPLETE);
    for (const lun of [0, 1]) expect(decodeSense((await guest.command(0, lun, cdb.tur())).sense)).toMatchObject({ key: 6, asc: 0x29, ascq: 0x07 });
  });

  it('ABORT TASK SET, CLEAR TASK SET, QUERY TASK SET; CLEAR ACA rejected; a missing LUN or target', async () => {
    const { guest } = setup();
    expect(await guest.tmf(TmfSubtype.ABORT_TASK_SET, 0, 0)).toBe(R.FUNCTION_COMPLETE);
    expect(await guest.tmf(TmfSubtype.CLEAR_TASK_SET, 0, 0)).toBe(R.FUNCTION_COMPLETE);
    expect(await guest.tmf(TmfSubtype.QUERY_TASK_SET, 0, 0)).toBe(R.FUNCTION_COMPLETE);
    expect(await guest.tmf(TmfSubtype.ABORT_TASK, 0, 0, 12345n)).toBe(R.FUNCTION_COMPLETE);
    expect(await guest.tmf(TmfSubtype.CLEAR_ACA, 0, 0)).toBe(R.FUNCTION_REJECTED);
    expect(await guest.tmf(99, 0, 0)).toBe(R.FUNCTION_REJECTED);
    expect(await guest.tmf(TmfSubtype.LOGICAL_UNIT_RESET, 0, 7)).toBe(R.INCORRECT_LUN);
    expect(await guest.tmf(TmfSubtype.LOGICAL_UNIT_RESET, 3, 0)).toBe(R.BAD_TARGET);
  });

  it('AN query and subscribe: no events supported, OK; a bad target: BAD_TARGET', async () => {
    const { guest } = setup();
    expect(await guest.an(ControlType.AN_QUERY, 0, 0, 0x7e)).toEqual({ actual: 0, response: R.OK });
    expect(await guest.an(ControlType.AN_SUBSCRIBE, 0, 1, 0x10)).toEqual({ actual: 0, response: R.OK });
    expect((await guest.an(ControlType.AN_QUERY, 2, 0, 0x10)).response).toBe(R.BAD_TARGET);
  });

  it('malformed control requests: FAILURE where a response byte fits, nothing otherwise', async () => {
    const { guest } = setup();
    expect(await guest.controlRaw(Uint8Array.of(0, 0), 1)).toEqual({ used: 1, resp: Uint8Array.of(R.FAILURE) });
    expect(await guest.controlRaw(Uint8Array.of(7, 0, 0, 0), 1)).toEqual({ used: 1, resp: Uint8Array.of(R.FAILURE) });
    expect(await guest.controlRaw(Uint8Array.of(0, 0, 0, 0, 5, 0, 0, 0), 1)).toEqual({ used: 1, resp: Uint8Array.of(R.FAILURE) });
    expect((await guest.controlRaw(Uint8Array.of(1, 0, 0, 0, ...encodeLun(0, 0)), 5)).resp[4]).toBe(R.FAILURE);
    expect((await guest.controlRaw(Uint8Array.of(0, 0, 0, 0, 5, 0, 0, 0, ...encodeLun(0, 0), 0, 0, 0, 0, 0, 0, 0, 0), 0)).used).toBe(0);
  });
});

describe('events (§5.6.6.3)', () => {
  it('a LUN hot-added and removed: TRANSPORT_RESET RESCAN and REMOVED with its address; the siblings get REPORTED LUNS DATA HAS CHANGED', async () => {
    const { guest, device } = setup();
    for (const lun of [0, 1]) await drain(guest, 0, lun);
    device.bus.add(0, 300, { backend: new MemoryBackend(1 << 20) });
    await until(() => guest.events.length === 1);
    expect(guest.events[0]).toEqual({ event: ScsiEvent.TRANSPORT_RESET, lun: encodeLun(0, 300), reason: TransportResetReason.RESCAN });
    expect(Array.from(guest.events[0]!.lun)).toEqual([1, 0, 0x41, 0x2c, 0, 0, 0, 0]);
    expect(decodeSense((await guest.command(0, 1, cdb.tur())).sense)).toMatchObject({ key: 6, asc: 0x3f, ascq: 0x0e });
    const inq = await guest.command(0, 300, cdb.inquiry(36), { inLength: 36 });
    expect(inq.data[0]).toBe(0);
    device.bus.remove(0, 300);
    await until(() => guest.events.length === 2);
    expect(guest.events[1]).toEqual({ event: ScsiEvent.TRANSPORT_RESET, lun: encodeLun(0, 300), reason: TransportResetReason.REMOVED });
    expect((await guest.command(0, 300, cdb.inquiry(36), { inLength: 36 })).data[0]).toBe(0x7f);
  });

  it('a resize: PARAM_CHANGE with ASC 2Ah ASCQ 09h, and the new capacity after the unit attention', async () => {
    const { guest, device, backends } = setup();
    await sdProbe(guest, 0, 1);
    (backends[1] as MemoryBackend).resize(2 << 20);
    device.bus.resize(0, 1);
    await until(() => guest.events.length === 1);
    // The REPORT LUNS encoding (peripheral below 256), which Linux's event handler reads unmasked.
    expect(guest.events[0]).toEqual({ event: ScsiEvent.PARAM_CHANGE, lun: Uint8Array.of(1, 0, 0, 1, 0, 0, 0, 0), reason: 0x092a });
    expect(decodeSense((await guest.command(0, 1, cdb.tur())).sense)).toMatchObject({ key: 6, asc: 0x2a, ascq: 0x09 });
    const cap = await guest.command(0, 1, cdb.readCapacity10(), { inLength: 8 });
    expect(new DataView(cap.data.buffer).getUint32(0)).toBe(4095);
  });

  it('no event buffer posted: the event is lost and the next buffer says EVENTS_MISSED', async () => {
    const device = new ScsiDevice();
    device.bus.add(0, 0, { backend: new MemoryBackend(1 << 20) });
    const guest = new LinuxScsi(device);
    guest.repostEvents = false;
    guest.probe();
    device.bus.add(0, 1, { backend: new MemoryBackend(1 << 20) });
    device.bus.resize(0, 0, 100);
    guest.postEvents(2);
    await until(() => guest.events.length === 1);
    expect(guest.events[0]).toEqual({ event: (ScsiEvent.NO_EVENT | ScsiEvent.EVENTS_MISSED) >>> 0, lun: new Uint8Array(8), reason: 0 });
    device.bus.remove(0, 1);
    await until(() => guest.events.length === 2);
    expect(guest.events[1]!.event).toBe(ScsiEvent.TRANSPORT_RESET);
  });

  it('without HOTPLUG or CHANGE negotiated, no events (unit attentions still)', async () => {
    const device = new ScsiDevice({ hotplug: false, change: false });
    device.bus.add(0, 0, { backend: new MemoryBackend(1 << 20) });
    const guest = new LinuxScsi(device);
    guest.probe();
    await guest.command(0, 0, cdb.requestSense(), { inLength: 252 });
    device.bus.add(0, 1, { backend: new MemoryBackend(1 << 20) });
    device.bus.resize(0, 0, 10);
    await guest.command(0, 0, cdb.tur());
    expect(guest.events).toEqual([]);
    expect(device.bus.unit(0, 0)!.pendingAttentions.length).toBe(1);
  });

  it('an event buffer shorter than an event is returned empty, and the event goes in the next', async () => {
    const device = new ScsiDevice();
    device.bus.add(0, 0, { backend: new MemoryBackend(1 << 20) });
    const guest = new LinuxScsi(device);
    guest.repostEvents = false;
    guest.probe();
    guest.postEvents(1, 8);
    guest.postEvents(1);
    device.bus.add(0, 2, { backend: new MemoryBackend(1 << 20) });
    await until(() => guest.events.length === 1);
    expect(guest.events[0]!.reason).toBe(TransportResetReason.RESCAN);
  });
});

describe('reads through the bounce buffers', () => {
  it('bounce buffers are reused across sizes: every read gets its own bytes and nothing past them; a read error writes no data', async () => {
    const mem = new MemoryBackend(4 << 20);
    for (let i = 0; i < 8; i++) mem.write(i * (256 << 10), [pattern(256 << 10, i)]);
    let fail = false;
    const backend: BlockBackend = { size: mem.size, read: (o, b) => (fail ? Promise.reject(new Error('EIO')) : Promise.resolve(mem.read(o, b))), write: () => {}, flush() {} };
    const { guest } = setup({ backends: [backend] });
    await guest.command(0, 0, cdb.tur(), {});
    // large, small, larger (more than the smallest bounce), concurrently and in turn
    const sizes = [128 << 10, 4096, 200 << 10, 512, 64 << 10, 4096];
    for (let round = 0; round < 2; round++) {
      const rs = await Promise.all(sizes.map((n, i) => guest.command(0, 0, cdb.read16((i * (256 << 10)) / 512, n / 512), { inLength: n + 512, queue: i % 2 })));
      rs.forEach((r, i) => {
        const n = sizes[i]!;
        expect([r.response, r.status, r.residual, r.used]).toEqual([R.OK, ScsiStatus.GOOD, 512, 12 + 96 + n]);
        const want = new Uint8Array(n);
        mem.read(i * (256 << 10), [want]);
        expect(sum(r.data.subarray(0, n))).toBe(sum(want));
      });
    }
    fail = true;
    const r = await guest.command(0, 0, cdb.read10(0, 8), { inLength: 4096 });
    expect([r.response, r.status, r.residual, r.used, decodeSense(r.sense).key]).toEqual([R.OK, ScsiStatus.CHECK_CONDITION, 4096, 12 + 96, 3]);
  });
});

describe('device reset', () => {
  it('with a read in flight: nothing written to guest memory afterwards; units get POWER ON RESET; a new activation serves', async () => {
    const mem = new MemoryBackend(1 << 20);
    mem.write(0, [new Uint8Array(512).fill(0x5a)]);
    let release = () => {};
    const backend: BlockBackend = { size: mem.size, read: (o, b) => new Promise<void>((r) => { release = () => { mem.read(o, b); r(); }; }), write: () => {}, flush() {} };
    const { guest, device } = setup({ backends: [backend] });
    await guest.command(0, 0, cdb.tur(), {}); // takes the POWER ON unit attention, which would answer the read at once
    void guest.start(0, 0, cdb.read10(0, 1), { inLength: 512 });
    await until(() => device.commandsInFlight === 1);
    const before = new Uint8Array(0x40_0000);
    guest.memory.read(0x10_0000, before);
    guest.driver.reset();
    let drained = false;
    void device.drain().then(() => (drained = true));
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(drained).toBe(false); // the read is still held
    release();
    await until(() => drained);
    expect(device.commandsInFlight).toBe(0);
    const after = new Uint8Array(0x40_0000);
    guest.memory.read(0x10_0000, after);
    expect(sum(after)).toBe(sum(before));
    expect(device.bus.unit(0, 0)!.pendingAttentions).toEqual([expect.objectContaining({ asc: 0x29, ascq: 0 })]);
    guest.driver.deleteQueues();
    const again = new LinuxScsi(device);
    again.probe();
    expect((await again.command(0, 0, cdb.inquiry(36), { inLength: 36 })).response).toBe(R.OK);
  });

  it('directReads: a read in flight at a reset still lands in its guest buffer, as DMA would, but is not returned; drain waits for it', async () => {
    const mem = new MemoryBackend(1 << 20);
    mem.write(0, [new Uint8Array(512).fill(0x5a)]);
    let release = () => {};
    const backend: BlockBackend = { size: mem.size, read: (o, b) => new Promise<void>((r) => { release = () => { mem.read(o, b); r(); }; }), write: () => {}, flush() {} };
    const { guest, device } = setup({ backends: [backend], directReads: true });
    await guest.command(0, 0, cdb.tur(), {});
    let returned = false;
    void guest.start(0, 0, cdb.read10(0, 1), { inLength: 512 }).done.then(() => (returned = true));
    await until(() => device.commandsInFlight === 1);
    const before = new Uint8Array(0x40_0000);
    guest.memory.read(0x10_0000, before);
    guest.driver.reset();
    let drained = false;
    void device.drain().then(() => (drained = true));
    release();
    await until(() => drained);
    const after = new Uint8Array(0x40_0000);
    guest.memory.read(0x10_0000, after);
    let fives = 0;
    for (let i = 0; i < after.length; i++) if (after[i] === 0x5a && before[i] !== 0x5a) fives++;
    expect(fives).toBe(512);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(returned).toBe(false);
  });
});

describe('drain of one unit', () => {
  it('waits for the commands to that LUN only: one held on LUN 1 does not hold a drain of LUN 0, and a removed LUN drains', async () => {
    const mem = new MemoryBackend(1 << 20);
    let release = () => {};
    const held: BlockBackend = { size: mem.size, read: (o, b) => new Promise<void>((r) => { release = () => { mem.read(o, b); r(); }; }), write: () => {}, flush() {} };
    const { guest, device } = setup({ backends: [new MemoryBackend(1 << 20), held] });
    await guest.command(0, 1, cdb.tur(), {}); // the POWER ON unit attention, which would answer the read at once
    const read = guest.start(0, 1, cdb.read10(0, 1), { inLength: 512 });
    await until(() => device.commandsInFlight === 1);
    await device.drain(0, 0); // nothing in flight on LUN 0: at once
    await device.drain(1); // nor on target 1
    let drained = false;
    void device.drain(0, 1).then(() => (drained = true));
    let all = false;
    void device.drain().then(() => (all = true));
    device.bus.remove(0, 1);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect([drained, all]).toEqual([false, false]); // the read is still held
    release();
    await until(() => drained && all);
    expect((await read.done).status).toBe(ScsiStatus.GOOD);
  });
});

function sum(b: Uint8Array): number {
  let h = 0;
  for (let i = 0; i < b.length; i++) h = (Math.imul(h, 31) + b[i]!) | 0;
  return h;
}
