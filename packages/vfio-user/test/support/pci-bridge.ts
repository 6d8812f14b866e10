/**
 * The transport-pci driver model (Linux's virtio_pci_modern) over vfio-user, as QEMU's vfio-user-pci
 * carries a guest's accesses: configuration and BAR accesses become REGION_READ / REGION_WRITE
 * messages sent through a synchronous `send` (a session in process, or a socket to a daemon), and
 * the MSI-X table is the client's own (QEMU emulates it over the BAR: table accesses never reach the
 * server); a vector's eventfd signalled is delivered with the message of the client's table, unless
 * that vector is masked there. Also used by @vmv/vfio-user-daemon's tests.
 */
import type { MsiConfig } from '@vmv/bus';
import { PciRegion } from '@vmv/vfio-user';
import { qemu, type Reply } from './client';

/** Sends one command and returns its reply (null when none came). */
export type SendCommand = (message: Uint8Array, fds?: number[]) => Reply | null;

/** The PCI and MMIO callbacks for `new VirtioPciDriver`, and interrupt delivery. */
export function pciBridge(send: SendCommand, barSizes: readonly number[]) {
  const table = new Map<number, Uint8Array>();
  let msix: { bar: number; offset: number; vectors: number } | null = null;
  const regionRead = (region: number, offset: number, data: Uint8Array): void => {
    const r = send(qemu.regionRead(region, offset, data.length));
    if (r === null || r.error !== 0) throw new Error(`REGION_READ ${region}+0x${offset.toString(16)} failed (errno ${r?.error})`);
    data.set(r.body.subarray(16, 16 + data.length));
  };
  const regionWrite = (region: number, offset: number, data: Uint8Array): void => {
    const r = send(qemu.regionWrite(region, offset, data));
    if (r === null || r.error !== 0) throw new Error(`REGION_WRITE ${region}+0x${offset.toString(16)} failed (errno ${r?.error})`);
  };
  const cfg = (offset: number, n: number): number => {
    const d = new Uint8Array(n);
    regionRead(PciRegion.CONFIG, offset, d);
    return d.reduceRight((v, b) => v * 256 + b, 0);
  };
  /** Where the guest placed each BAR, from the BAR registers. */
  const barBase = (i: number): bigint | null => {
    const lo = cfg(0x10 + 4 * i, 4);
    if ((lo & 1) !== 0) return null;
    const base = BigInt(lo & ~0xf >>> 0) & 0xffff_fff0n;
    return (lo & 6) === 4 ? base | (BigInt(cfg(0x14 + 4 * i, 4)) << 32n) : base;
  };
  const locate = (address: bigint): { bar: number; offset: number } => {
    for (let i = 0; i < 6; i++) {
      const size = barSizes[i] ?? 0;
      if (size === 0) continue;
      const base = barBase(i);
      if (base !== null && base !== 0n && address >= base && address < base + BigInt(size)) return { bar: i, offset: Number(address - base) };
    }
    throw new Error(`no BAR at 0x${address.toString(16)}`);
  };
  const findMsix = () => {
    if (msix !== null) return msix;
    for (let at = cfg(0x34, 1) & 0xfc; at !== 0; at = cfg(at + 1, 1) & 0xfc) {
      if (cfg(at, 1) === 0x11) {
        const t = cfg(at + 4, 4);
        msix = { bar: t & 7, offset: t & ~7, vectors: (cfg(at + 2, 2) & 0x7ff) + 1 };
        return msix;
      }
    }
    return null;
  };
  const inTable = (bar: number, offset: number): number | null => {
    const m = findMsix();
    if (m === null || bar !== m.bar || offset < m.offset || offset >= m.offset + m.vectors * 16) return null;
    return offset - m.offset;
  };
  const entry = (v: number): Uint8Array => {
    let e = table.get(v);
    if (e === undefined) table.set(v, (e = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0)));
    return e;
  };
  let tableAccesses = 0;
  return {
    pci: {
      configRead: (_b: number, _d: number, _f: number, offset: number, data: Uint8Array) => regionRead(PciRegion.CONFIG, offset, data),
      configWrite: (_b: number, _d: number, _f: number, offset: number, data: Uint8Array) => regionWrite(PciRegion.CONFIG, offset, data),
    },
    mmio: {
      mmioRead: (address: bigint, data: Uint8Array) => {
        const { bar, offset } = locate(address);
        const t = inTable(bar, offset);
        if (t === null) return regionRead(bar, offset, data);
        tableAccesses++;
        data.set(entry(t >> 4).subarray(t & 15, (t & 15) + data.length));
      },
      mmioWrite: (address: bigint, data: Uint8Array) => {
        const { bar, offset } = locate(address);
        const t = inTable(bar, offset);
        if (t === null) return regionWrite(bar, offset, data);
        tableAccesses++;
        entry(t >> 4).set(data, t & 15);
      },
    },
    /** The client's message for vector `v`, or null while it is masked in the client's table. */
    message(v: number): MsiConfig | null {
      const e = entry(v);
      if ((e[12]! & 1) !== 0) return null;
      const dv = new DataView(e.buffer);
      return { addressLo: dv.getUint32(0, true), addressHi: dv.getUint32(4, true), data: dv.getUint32(8, true) };
    },
    /** Table accesses the client kept (none reached the server). */
    get tableAccesses() {
      return tableAccesses;
    },
  };
}
