/**
 * What the target tests share: a bus with units over memory backends, a command runner that
 * clears the power-on unit attention, CDB builders, and sense decoding for checks.
 */
import { MemoryBackend } from '@vmv/block';
import type { BlockBackend } from '@vmv/block';
import { ScsiBus } from '@vmv/scsi';
import type { LogicalUnitOptions, ScsiResult } from '@vmv/scsi';

export const be16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
export const be32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
export const be64 = (n: number) => [...be32(Math.floor(n / 0x1_0000_0000)), ...be32(n >>> 0)];

/** CDB builders for the commands Linux sends. */
export const cdb = {
  tur: () => Uint8Array.of(0x00, 0, 0, 0, 0, 0),
  requestSense: (alloc = 252, desc = false) => Uint8Array.of(0x03, desc ? 1 : 0, 0, 0, alloc, 0),
  inquiry: (alloc = 36, page?: number) => Uint8Array.of(0x12, page === undefined ? 0 : 1, page ?? 0, ...be16(alloc), 0),
  reportLuns: (alloc = 4096) => Uint8Array.of(0xa0, 0, 0, 0, 0, 0, ...be32(alloc), 0, 0),
  readCapacity10: () => Uint8Array.of(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0),
  readCapacity16: (alloc = 32) => Uint8Array.of(0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, ...be32(alloc), 0, 0),
  read6: (lba: number, blocks: number) => Uint8Array.of(0x08, (lba >> 16) & 0x1f, (lba >> 8) & 0xff, lba & 0xff, blocks, 0),
  write6: (lba: number, blocks: number) => Uint8Array.of(0x0a, (lba >> 16) & 0x1f, (lba >> 8) & 0xff, lba & 0xff, blocks, 0),
  read10: (lba: number, blocks: number) => Uint8Array.of(0x28, 0, ...be32(lba), 0, ...be16(blocks), 0),
  write10: (lba: number, blocks: number, fua = false) => Uint8Array.of(0x2a, fua ? 0x08 : 0, ...be32(lba), 0, ...be16(blocks), 0),
  read12: (lba: number, blocks: number) => Uint8Array.of(0xa8, 0, ...be32(lba), ...be32(blocks), 0, 0),
  write12: (lba: number, blocks: number) => Uint8Array.of(0xaa, 0, ...be32(lba), ...be32(blocks), 0, 0),
  read16: (lba: number, blocks: number) => Uint8Array.of(0x88, 0, ...be64(lba), ...be32(blocks), 0, 0),
  write16: (lba: number, blocks: number) => Uint8Array.of(0x8a, 0, ...be64(lba), ...be32(blocks), 0, 0),
  verify10: (lba: number, blocks: number, bytchk = 0) => Uint8Array.of(0x2f, bytchk << 1, ...be32(lba), 0, ...be16(blocks), 0),
  verify16: (lba: number, blocks: number, bytchk = 0) => Uint8Array.of(0x8f, bytchk << 1, ...be64(lba), ...be32(blocks), 0, 0),
  writeSame10: (lba: number, blocks: number, unmap = false) => Uint8Array.of(0x41, unmap ? 0x08 : 0, ...be32(lba), 0, ...be16(blocks), 0),
  writeSame16: (lba: number, blocks: number, unmap = false, ndob = false) => Uint8Array.of(0x93, (unmap ? 0x08 : 0) | (ndob ? 1 : 0), ...be64(lba), ...be32(blocks), 0, 0),
  unmap: (length: number) => Uint8Array.of(0x42, 0, 0, 0, 0, 0, 0, ...be16(length), 0),
  sync10: (lba = 0, blocks = 0) => Uint8Array.of(0x35, 0, ...be32(lba), 0, ...be16(blocks), 0),
  sync16: (lba = 0, blocks = 0) => Uint8Array.of(0x91, 0, ...be64(lba), ...be32(blocks), 0, 0),
  modeSense6: (page: number, alloc = 255, opts: { dbd?: boolean; pc?: number; subpage?: number } = {}) => Uint8Array.of(0x1a, opts.dbd ? 0x08 : 0, ((opts.pc ?? 0) << 6) | page, opts.subpage ?? 0, alloc, 0),
  modeSense10: (page: number, alloc = 512, opts: { dbd?: boolean; llbaa?: boolean; pc?: number } = {}) => Uint8Array.of(0x5a, (opts.dbd ? 0x08 : 0) | (opts.llbaa ? 0x10 : 0), ((opts.pc ?? 0) << 6) | page, 0, 0, 0, 0, ...be16(alloc), 0),
  modeSelect6: (length: number) => Uint8Array.of(0x15, 0x10, 0, 0, length, 0),
  modeSelect10: (length: number) => Uint8Array.of(0x55, 0x10, 0, 0, 0, 0, 0, ...be16(length), 0),
  startStop: (start: boolean, power = 0) => Uint8Array.of(0x1b, 0, 0, 0, (power << 4) | (start ? 1 : 0), 0),
  reportOpcodes: (options: number, opcode = 0, sa = 0, alloc = 8192, rctd = false) => Uint8Array.of(0xa3, 0x0c, (rctd ? 0x80 : 0) | options, opcode, ...be16(sa), ...be32(alloc), 0, 0),
};

/** A decoded sense (either format) for checks. */
export interface Decoded {
  readonly format: 'fixed' | 'descriptor';
  readonly key: number;
  readonly asc: number;
  readonly ascq: number;
  readonly information?: number;
  /** The sense-key-specific bytes, when SKSV is set. */
  readonly sks?: readonly [number, number, number];
}

export function decodeSense(s: Uint8Array | null): Decoded {
  if (s === null) throw new Error('no sense');
  const v = new DataView(s.buffer, s.byteOffset, s.byteLength);
  if ((s[0]! & 0x7f) === 0x70) {
    return {
      format: 'fixed',
      key: s[2]! & 0x0f,
      asc: s[12]!,
      ascq: s[13]!,
      ...((s[0]! & 0x80) !== 0 ? { information: v.getUint32(3) } : {}),
      ...((s[15]! & 0x80) !== 0 ? { sks: [s[15]!, s[16]!, s[17]!] as const } : {}),
    };
  }
  if (s[0] !== 0x72) throw new Error(`sense response code ${s[0]}`);
  const d: { information?: number; sks?: readonly [number, number, number] } = {};
  for (let at = 8; at < 8 + s[7]!; at += 2 + s[at + 1]!) {
    if (s[at] === 0) d.information = v.getUint32(at + 4) * 0x1_0000_0000 + v.getUint32(at + 8);
    if (s[at] === 2) d.sks = [s[at + 4]!, s[at + 5]!, s[at + 6]!];
  }
  return { format: 'descriptor', key: s[1]!, asc: s[2]!, ascq: s[3]!, ...d };
}

/** A bus with units, each over its own memory backend; the power-on unit attention taken. */
export function makeBus(units: { target?: number; lun?: number; size?: number; options?: Partial<LogicalUnitOptions>; backend?: BlockBackend }[] = [{}]) {
  const bus = new ScsiBus();
  const backends: BlockBackend[] = [];
  for (const u of units) {
    const backend = u.backend ?? new MemoryBackend(u.size ?? 1 << 20);
    backends.push(backend);
    bus.add(u.target ?? 0, u.lun ?? 0, { backend, ...u.options });
  }
  for (const [t, l] of bus.addresses()) while (bus.unit(t, l)!.takeAttention() !== undefined);
  /** Runs a CDB at (target, lun) with data-out `out` (as one buffer or several) and `inLength` of data-in room. */
  const run = (c: Uint8Array, opts: { out?: Uint8Array | Uint8Array[]; inLength?: number; target?: number; lun?: number } = {}): Promise<ScsiResult> =>
    bus.execute(opts.target ?? 0, opts.lun ?? 0, { cdb: c, dataOut: opts.out === undefined ? [] : Array.isArray(opts.out) ? opts.out : [opts.out], dataInLength: opts.inLength ?? 0 });
  return { bus, backends, run };
}

export const pattern = (length: number, seed: number) => Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 7 + (i >> 9)) & 0xff);
