// scsi/commands: the commands of vmv-vhost-user-scsi's target that sg3-utils asks about, through the kernel's
// virtio_scsi, sd_mod and sg (guest/tests/scsi-commands.sh), each answer decoded here field by field against what the
// host configured (LUN 0 read-write 32 MiB, LUN 1 read-only 8 MiB, --solid-state):
//   MODE SENSE(10) current/changeable/default and MODE SENSE(6): header (length, medium type, WP, DPOFUA), the block
//     descriptor (capacity, 512), pages 01h (AWRE, ARRE), 08h (WCE as configured, changeable), 0Ah (D_SENSE
//     changeable, QAM 1), then byte for byte against @vmv/scsi's answer to the same CDB; LUN 1 WP; saved values
//     refused (39h/00h); sd's cache_type and FUA. MODE SELECT through sd: cache_type "write through" then "write
//     back", the caching page read back with WCE 0 then 1.
//   REPORT SUPPORTED OPERATION CODES: the list (with and without timeout descriptors, LUN 1's without UNMAP) against
//     the commands @vmv/scsi implements and the issue's list, each with its CDB length from the opcode's group;
//     single commands' CDB usage data; an opcode the target lacks reported unsupported and refused (20h/00h).
//   SYNCHRONIZE CACHE(10) and (16) succeed; past the capacity LBA OUT OF RANGE.
//   UNMAP, WRITE SAME(16) and (10) with UNMAP, WRITE SAME(16) NDOB+UNMAP: each on a range the host filled (allocated
//     in the image before the boot), read back as zeros by the guest, a hole in the image afterwards (SEEK_DATA);
//     WRITE SAME(10) of a 512-byte pattern: the range holds it repeated, in the guest and in the image.
//   LOGICAL UNIT RESET (sg_reset -N -d: virtio_scsi's TMF on the controlq): exit 0, logged by the kernel, then at
//     most one UNIT ATTENTION (29h/03h), TEST UNIT READY, a read of host data and INQUIRY work.
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCheck } from './checks.mjs';
import { createImage, md5Range } from './image.mjs';
import { SCSI_MODULES, allocatedBytes, bytes, comparer, md5, scsiDaemon, scsiPackage, withHostBus } from './scsi.mjs';

const MiB = 1 << 20;
const SIZES = [32 * MiB, 8 * MiB];
const READ = MiB; // host data at 0 of LUN 0, read after the reset
/** LBA and blocks of each range the guest unmaps or writes the same block over (host-filled before the boot). */
const RANGES = { unmap: [8192, 4096], ws16u: [12288, 4096], ws10u: [16384, 4096], ndob: [20480, 4096], ws: [24576, 4096] };
const PROGRAMS = ['sg_modes', 'sg_opcodes', 'sg_sync', 'sg_unmap', 'sg_write_same', 'sg_reset', 'sg_raw', 'sg_inq', 'od'];
const FLAGS = ['--solid-state', '--read-only-lun', '1'];

/**
 * The commands issue 19 asks of the target (opcode, or opcode/service action, hex): the target must list at least
 * these (and exactly what @vmv/scsi implements).
 */
const ISSUE_COMMANDS = ['00', '03', '08', '0a', '12', '15', '1a', '1b', '25', '28', '2a', '2f', '35', '41', '42', '55', '5a', '88', '8a', '8f',
  '91', '93', '9e/10', 'a0', 'a3/0c', 'a8', 'aa'];
const h2 = (n) => n.toString(16).padStart(2, '0');
/** The CDB length of an opcode's group (SPC-4 §4.2.5.1). */
const groupLength = (op) => [6, 10, 10, 0, 16, 12, 0, 0][op >> 5];

/** A MODE SENSE(6) or (10) response: header, block descriptor bytes, pages. */
function parseMode(b, ten) {
  const header = ten ? 8 : 4;
  if (b.length < header) return null;
  const bdl = ten ? b.readUInt16BE(6) : b[3];
  const pages = [];
  for (let at = header + bdl; at + 2 <= b.length; at += 2 + b[at + 1]) pages.push(b.subarray(at, at + 2 + b[at + 1]));
  return {
    length: ten ? b.readUInt16BE(0) + 2 : b[0] + 1, medium: ten ? b[2] : b[1], deviceSpecific: ten ? b[3] : b[2], bdl,
    descriptor: b.subarray(header, header + bdl), pages,
  };
}

/**
 * Field by field, a MODE SENSE response for page control `pc` (0 current, 1 changeable, 2 default) of every page
 * (`page` 0x3f) or one page, against the unit's configuration `u` ({blocks, readOnly}) and write cache `wce`.
 */
function checkMode(e, what, hex, ten, pc, u, wce, page = 0x3f) {
  const eq = comparer(e, `${what} `);
  const b = bytes(hex);
  const m = parseMode(b, ten);
  if (!m) return e.push(`${what}: ${b.length} bytes, no header`);
  eq('mode data length + header', m.length, b.length);
  eq('medium type', m.medium, 0);
  eq('WP', m.deviceSpecific >> 7, u.readOnly ? 1 : 0);
  eq('DPOFUA', (m.deviceSpecific >> 4) & 1, 1);
  eq('block descriptor length', m.bdl, 8);
  if (m.bdl === 8) {
    eq('block descriptor: blocks', m.descriptor.readUInt32BE(0), Math.min(u.blocks, 0xffffff));
    eq('block descriptor: block length', m.descriptor.readUInt32BE(4) & 0xffffff, 512);
  }
  const want = page === 0x3f ? [0x01, 0x08, 0x0a] : [page];
  eq('pages', m.pages.map((p) => h2(p[0])).join(','), want.map(h2).join(','));
  const rest = (p, from) => [...p.subarray(from)].every((x) => x === 0);
  for (const p of m.pages) {
    const pe = comparer(e, `${what} page ${h2(p[0] & 0x3f)}h `);
    if (p[0] === 0x01) {
      pe('page length', p[1], 0x0a);
      pe('AWRE/ARRE', h2(p[2]), pc === 1 ? '00' : 'c0'); // nothing changeable
      pe('other fields zero', rest(p, 3), true);
    } else if (p[0] === 0x08) {
      pe('page length', p[1], 0x12);
      pe('WCE', (p[2] >> 2) & 1, pc === 1 ? 1 : pc === 2 ? 1 : wce ? 1 : 0);
      pe('RCD', p[2] & 1, 0);
      pe('other fields zero', (p[2] & ~0x05) === 0 && rest(p, 3), true);
    } else if (p[0] === 0x0a) {
      pe('page length', p[1], 0x0a);
      pe('D_SENSE', (p[2] >> 2) & 1, pc === 1 ? 1 : 0);
      pe('QUEUE ALGORITHM MODIFIER', p[3] >> 4, pc === 1 ? 0 : 1);
      pe('other fields zero', (p[2] & ~0x04) === 0 && (p[3] & 0x0f) === 0 && rest(p, 4), true);
    }
  }
  return undefined;
}

/** The descriptors of an all-commands REPORT SUPPORTED OPERATION CODES answer. */
function parseOpcodes(b) {
  if (b.length < 4) return null;
  const list = [];
  const end = Math.min(b.length, 4 + b.readUInt32BE(0));
  for (let at = 4; at + 8 <= end;) {
    const servactv = b[at + 5] & 1;
    const ctdp = (b[at + 5] >> 1) & 1;
    list.push({ op: b[at], sa: b.readUInt16BE(at + 2), servactv, ctdp, cdbLength: b.readUInt16BE(at + 6),
      timeoutsLength: ctdp && at + 10 <= end ? b.readUInt16BE(at + 8) : null });
    at += 8 + (ctdp ? 12 : 0);
  }
  return { length: 4 + b.readUInt32BE(0), list };
}
const opName = (c) => (c.servactv ? `${h2(c.op)}/${h2(c.sa)}` : h2(c.op));

function checkOpcodeList(e, what, hex, supported, rctd) {
  const eq = comparer(e, `${what} `);
  const b = bytes(hex);
  const r = parseOpcodes(b);
  if (!r) return e.push(`${what}: ${b.length} bytes`);
  eq('command data length + 4', r.length, b.length);
  const names = r.list.map(opName);
  eq('commands', names.join(','), supported.map((c) => (c.serviceAction !== undefined ? `${h2(c.opcode)}/${h2(c.serviceAction)}` : h2(c.opcode))).join(','));
  const missing = ISSUE_COMMANDS.filter((n) => !names.includes(n) && !(n === '42' && !supported.some((c) => c.opcode === 0x42)));
  if (missing.length) e.push(`${what}: issue 19's commands missing: ${missing.join(', ')}`);
  for (const c of r.list) {
    const ce = comparer(e, `${what} ${opName(c)} `);
    ce('CDB length', c.cdbLength, groupLength(c.op));
    ce('CTDP', c.ctdp, rctd ? 1 : 0);
    if (rctd) ce('timeouts descriptor length', c.timeoutsLength, 0x0a);
  }
  return undefined;
}

/** One command's REPORT SUPPORTED OPERATION CODES answer: supported with this usage data, or not supported. */
function checkOneOpcode(e, what, hex, entry, fields = []) {
  const eq = comparer(e, `${what} `);
  const b = bytes(hex);
  if (b.length < 4) return e.push(`${what}: ${b.length} bytes`);
  const size = b.readUInt16BE(2);
  const usage = b.subarray(4, 4 + size);
  if (!entry) {
    eq('SUPPORT', b[1] & 7, 1);
    eq('CDB size', size, 0);
    return undefined;
  }
  eq('SUPPORT', b[1] & 7, 3);
  eq('CDB size', size, groupLength(entry.opcode));
  eq('usage data', usage.toString('hex'), Buffer.from(entry.usage).toString('hex'));
  eq('usage byte 0 (the opcode)', usage[0], entry.opcode);
  // the fields an initiator fills must be marked used: [from, to) bytes all ones, or [byte, mask]
  for (const [from, to, mask = 0xff] of fields) {
    for (let i = from; i < to; i++) eq(`usage byte ${i}`, h2(usage[i] & mask), h2(mask));
  }
  return undefined;
}

/**
 * scsi/commands: see the header.
 * @param {object} img  a guest image (ensureGuestImage)
 * @param {object} hooks  log, onConsoleLine
 */
export function scsiCommandsCheck(img, hooks = {}) {
  const name = `${img.platform.name}/scsi/commands`;
  const dir = mkdtempSync(join(tmpdir(), 'vmv-scsi-cmd-'));
  const images = SIZES.map((size, i) => join(dir, `lun${i}.img`));
  images.forEach((p, i) => createImage(p, SIZES[i]));
  const fd = openSync(images[0], 'r+');
  for (const [off, len] of [[0, READ], [RANGES.unmap[0] * 512, 10 * MiB]]) writeSync(fd, randomBytes(len), 0, len, off);
  closeSync(fd);
  const host = {
    read: md5Range(images[0], 0, READ),
    // what the image had allocated before the boot where the guest will unmap (all of it: the holes are its doing)
    allocated: Object.fromEntries(Object.entries(RANGES).map(([k, [lba, n]]) => [k, allocatedBytes(images[0], lba * 512, n * 512)])),
    ranges: Object.fromEntries(Object.entries(RANGES).map(([k, [lba, n]]) => [k, { off: lba * 512, len: n * 512, md5: md5Range(images[0], lba * 512, n * 512) }])),
  };
  let summary = '';
  return runCheck(name, img, {
    ...hooks,
    modules: SCSI_MODULES, packages: ['sg3-utils'], programs: PROGRAMS,
    devices: [scsiDaemon(images, FLAGS)],
    tests: ['scsi-commands'],
    cmdline: [`cmd.read=${READ}`, ...Object.entries(RANGES).map(([k, [lba, n]]) => `cmd.${k}=${lba}:${n}`)],
    async verify(r) {
      const v = r.values;
      if (v['cmd.done'] !== '1') return ['the guest did not finish'];
      const e = [];
      const eq = comparer(e);
      const { SUPPORTED_COMMANDS } = scsiPackage();
      const hostSaid = await withHostBus(images, [1], async (bus, units) => {
        const ask = async (lun, cdb) => {
          const res = await bus.execute(0, lun, { cdb: Uint8Array.from(cdb), dataOut: [], dataInLength: 65536 });
          return res.data ? Buffer.from(res.data).toString('hex') : `status ${res.status}`;
        };
        return {
          units: units.map((u) => ({ blocks: u.capacity, readOnly: u.readOnly, supported: SUPPORTED_COMMANDS.filter((c) => u.supports(c.opcode)) })),
          modes10: await Promise.all([0, 1, 2].map((pc) => ask(0, [0x5a, 0, (pc << 6) | 0x3f, 0, 0, 0, 0, 0x10, 0, 0]))),
          modes6: await ask(0, [0x1a, 0, 0x3f, 0, 0xfc, 0]),
          modes10ro: await ask(1, [0x5a, 0, 0x3f, 0, 0, 0, 0, 0x10, 0, 0]),
        };
      });
      const [u0, u1] = hostSaid.units;
      // MODE SENSE, field by field, then byte for byte against @vmv/scsi
      for (const pc of [0, 1, 2]) {
        checkMode(e, `LUN 0 MODE SENSE(10) PC ${pc}`, v[`cmd.modes10.${pc}`], true, pc, u0, true);
        eq(`LUN 0 MODE SENSE(10) PC ${pc} bytes (host: @vmv/scsi's answer)`, v[`cmd.modes10.${pc}`], hostSaid.modes10[pc]);
      }
      checkMode(e, 'LUN 0 MODE SENSE(6)', v['cmd.modes6'], false, 0, u0, true);
      eq('LUN 0 MODE SENSE(6) bytes (host: @vmv/scsi\'s answer)', v['cmd.modes6'], hostSaid.modes6);
      checkMode(e, 'LUN 1 MODE SENSE(10)', v['cmd.modes10.ro'], true, 0, u1, true);
      eq('LUN 1 MODE SENSE(10) bytes (host: @vmv/scsi\'s answer)', v['cmd.modes10.ro'], hostSaid.modes10ro);
      if (v['cmd.modes.saved.rc'] === '0' || !/Illegal_Request/i.test(v['cmd.modes.saved']) || !/Saving_parameters_not_supported/i.test(v['cmd.modes.saved'])) {
        e.push(`MODE SENSE of saved values: exit ${v['cmd.modes.saved.rc']}, sense "${v['cmd.modes.saved']}" (want ILLEGAL REQUEST, SAVING PARAMETERS NOT SUPPORTED)`);
      }
      eq('sd cache_type at probe (MODE SENSE caching page)', v['cmd.cache-type'], 'write_back');
      eq('sd FUA at probe (MODE SENSE DPOFUA)', v['cmd.fua'], '1');
      // MODE SELECT through sd
      eq('cache_type after writing "write through" (MODE SELECT)', v['cmd.wt.cache-type'], 'write_through');
      checkMode(e, 'LUN 0 caching page after "write through"', v['cmd.wt.caching'], true, 0, u0, false, 0x08);
      eq('cache_type after writing "write back" (MODE SELECT)', v['cmd.wb.cache-type'], 'write_back');
      checkMode(e, 'LUN 0 caching page after "write back"', v['cmd.wb.caching'], true, 0, u0, true, 0x08);
      // REPORT SUPPORTED OPERATION CODES
      checkOpcodeList(e, 'LUN 0 REPORT SUPPORTED OPERATION CODES', v['cmd.opcodes'], u0.supported, false);
      checkOpcodeList(e, 'LUN 0 REPORT SUPPORTED OPERATION CODES (RCTD)', v['cmd.opcodes.rctd'], u0.supported, true);
      checkOpcodeList(e, 'LUN 1 REPORT SUPPORTED OPERATION CODES', v['cmd.opcodes.ro'], u1.supported, false);
      const entry = (op, sa) => u0.supported.find((c) => c.opcode === op && (sa === undefined || c.serviceAction === sa));
      const rw10 = [[2, 6], [7, 9]]; // LBA, TRANSFER LENGTH
      checkOneOpcode(e, 'REPORT SUPPORTED OPERATION CODES 28h', v['cmd.opcode.0x28'], entry(0x28), rw10);
      checkOneOpcode(e, 'REPORT SUPPORTED OPERATION CODES 2Ah', v['cmd.opcode.0x2a'], entry(0x2a), rw10);
      checkOneOpcode(e, 'REPORT SUPPORTED OPERATION CODES 42h', v['cmd.opcode.0x42'], entry(0x42), [[7, 9]]);
      checkOneOpcode(e, 'REPORT SUPPORTED OPERATION CODES 93h', v['cmd.opcode.0x93'], entry(0x93), [[1, 2, 0x09], [2, 14]]); // UNMAP, NDOB; LBA, blocks
      checkOneOpcode(e, 'REPORT SUPPORTED OPERATION CODES 9Eh/10h', v['cmd.opcode.0x9e-0x10'], entry(0x9e, 0x10), [[1, 2, 0x1f], [10, 14]]);
      checkOneOpcode(e, 'REPORT SUPPORTED OPERATION CODES 5Eh (not a command of the target)', v['cmd.opcode.0x5e'], undefined);
      checkOneOpcode(e, 'LUN 1 REPORT SUPPORTED OPERATION CODES 42h (read-only: no UNMAP)', v['cmd.opcode.ro.0x42'], undefined);
      if (v['cmd.unsupported.rc'] === '0' || !/Illegal_Request/i.test(v['cmd.unsupported']) || !/Invalid_command_operation_code/i.test(v['cmd.unsupported'])) {
        e.push(`PERSISTENT RESERVE IN (5Eh): exit ${v['cmd.unsupported.rc']}, sense "${v['cmd.unsupported']}" (want ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE)`);
      }
      // SYNCHRONIZE CACHE
      eq('sg_sync (SYNCHRONIZE CACHE(10)) exit', v['cmd.sync10.rc'], 0);
      eq('sg_sync -S (SYNCHRONIZE CACHE(16)) exit', v['cmd.sync16.rc'], 0);
      if (v['cmd.sync.oor.rc'] === '0' || !/Illegal_Request/i.test(v['cmd.sync.oor']) || !/Logical_block_address_out_of_range/i.test(v['cmd.sync.oor'])) {
        e.push(`SYNCHRONIZE CACHE(10) at LBA 100000000: exit ${v['cmd.sync.oor.rc']}, sense "${v['cmd.sync.oor']}" (want ILLEGAL REQUEST, LOGICAL BLOCK ADDRESS OUT OF RANGE)`);
      }
      // UNMAP and WRITE SAME: the guest's reads, then the image
      const holes = [];
      for (const [k, { off, len, md5: filled }] of Object.entries(host.ranges)) {
        const re = comparer(e, `${k} [${off / MiB}M, +${len / MiB}M) `);
        re('before: the host\'s data read by the guest (md5)', v[`cmd.${k}.before`], filled);
        re('before: bytes allocated in the image before the boot', host.allocated[k], len);
        re('exit', v[`cmd.${k}.rc`], 0);
        if (k === 'ws') {
          const block = Buffer.alloc(512);
          const f = openSync(images[0], 'r');
          readSync(f, block, 0, 512, off);
          closeSync(f);
          re('pattern block in the image (md5)', md5(block), v['cmd.pattern']);
          const want = md5(Buffer.concat(Array.from({ length: len / 512 }, () => block)));
          re('after: the guest read the pattern repeated (md5)', v[`cmd.${k}.after`], want);
          re('after: the image holds the pattern repeated (md5)', md5Range(images[0], off, len), want);
        } else {
          const zeros = md5(Buffer.alloc(len));
          re('after: the guest read zeros (md5)', v[`cmd.${k}.after`], zeros);
          re('after: the image reads zeros (md5)', md5Range(images[0], off, len), zeros);
          re('after: bytes allocated in the image (a hole)', allocatedBytes(images[0], off, len), 0);
          holes.push(k);
        }
      }
      // LOGICAL UNIT RESET
      eq('sg_reset -N -d exit', v['cmd.reset.rc'], 0);
      if (!(Number(v['cmd.reset.logged']) >= 1)) e.push(`the kernel logged no "device reset" for sg_reset -d (${v['cmd.reset.logged']})`);
      const tur1 = v['cmd.reset.tur1'] ?? '';
      if (!(v['cmd.reset.tur1.rc'] === '0' && tur1 === '') && !(/Unit_Attention/i.test(tur1) && /Bus_device_reset_function_occurred/i.test(tur1))) {
        e.push(`the first TEST UNIT READY after the reset: exit ${v['cmd.reset.tur1.rc']}, sense "${tur1}" (want GOOD, or UNIT ATTENTION, BUS DEVICE RESET FUNCTION OCCURRED)`);
      }
      eq('the second TEST UNIT READY after the reset: exit', v['cmd.reset.tur2.rc'], 0);
      eq('the second TEST UNIT READY after the reset: sense', v['cmd.reset.tur2'], '');
      eq('the host\'s data read after the reset (md5)', v['cmd.reset.read'], host.read);
      eq('INQUIRY vendor after the reset', bytes(v['cmd.reset.inq']).subarray(8, 16).toString('latin1').trimEnd(), 'VMV');
      summary = `MODE SENSE(10) PC 0/1/2, (6), LUN 1 WP: every field and byte; cache_type write through/back (MODE SELECT) seen as WCE 0/1; `
        + `${parseOpcodes(bytes(v['cmd.opcodes']))?.list.length} commands reported (LUN 1 without UNMAP), usage data of 5; SYNCHRONIZE CACHE 10/16; `
        + `holes in the image after ${holes.join(', ')}; WRITE SAME pattern; LU reset (the first TEST UNIT READY: ${tur1 ? 'UNIT ATTENTION, BUS DEVICE RESET FUNCTION OCCURRED' : 'GOOD'}), then TUR, a read and INQUIRY`;
      return e;
    },
    summary: () => summary,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  });
}
