/**
 * The 256-byte PCI configuration space of a virtio function (VIRTIO 1.2 §4.1.2 identity, §4.1.4
 * virtio structure capabilities, the MSI-X capability): the bytes, which of their bits a write may
 * change (BAR sizing falls out of that: all-ones written, the size mask read back), and the list
 * of capabilities. Side effects (INTx, MSI-X control, the PCI configuration access window) belong
 * to the function, which calls in here for the bytes.
 * @module
 */
import { NOTIFY_OFF_MULTIPLIER, PCI_CONFIG_SPACE_SIZE, PciCapabilityId, PciConfig, PciStatus, VIRTIO_BAR, VIRTIO_PCI_DEVICE_ID_BASE, VIRTIO_PCI_VENDOR_ID, VirtioPciCapType } from './constants.js';

/**
 * One virtio structure as a capability describes it.
 * @example `const s: VirtioStructure = { type: VirtioPciCapType.ISR, bar: 0, offset: 0x1000, length: 1 };`
 */
export interface VirtioStructure {
  /** `cfg_type`. */
  readonly type: number;
  /** The BAR it lives in. */
  readonly bar: number;
  /** Offset in the BAR. */
  readonly offset: number;
  /** Length in bytes. */
  readonly length: number;
}

/**
 * A BAR the function implements.
 * @example `const bar: PciBarInfo = { index: 0, size: 0x4000, kind: 'memory64', prefetchable: false };`
 */
export interface PciBarInfo {
  /** The BAR number (a 64-bit BAR also takes the next one). */
  readonly index: number;
  /** Its size in bytes (a power of two). */
  readonly size: number;
  /** A 64-bit or 32-bit memory BAR. */
  readonly kind: 'memory64' | 'memory32';
  /** The prefetchable bit. */
  readonly prefetchable: boolean;
}

/**
 * What the function's identity and layout are.
 * @example `const id: ConfigIdentity = { deviceId: 4, revision: 1, classCode: 0xff0000, subsystemVendorId: 0x1af4, subsystemId: 0x1100 };`
 */
export interface ConfigIdentity {
  readonly deviceId: number;
  readonly revision: number;
  readonly classCode: number;
  readonly subsystemVendorId: number;
  readonly subsystemId: number;
}

/** Where the capabilities ended up, for the function's side effects. */
export interface CapabilityOffsets {
  /** The PCI configuration access capability. */
  readonly pciCfg: number;
  /** The MSI-X capability, or -1. */
  readonly msix: number;
  /** Every virtio capability: [start, end) ranges of read-only bytes. */
  readonly virtio: readonly (readonly [number, number])[];
}

/**
 * The bytes and write masks of the configuration space.
 * @example `const cs = new PciConfigBytes(identity, bars, structures, msix);`
 */
export class PciConfigBytes {
  /** The bytes as stored (dynamic fields are overlaid by the function on read). */
  readonly bytes = new Uint8Array(PCI_CONFIG_SPACE_SIZE);
  /** Per byte, the bits a write may change. */
  readonly wmask = new Uint8Array(PCI_CONFIG_SPACE_SIZE);
  /** The implemented BARs. */
  readonly bars: readonly PciBarInfo[];
  /** Capability positions. */
  readonly caps: CapabilityOffsets;
  private readonly initial: Uint8Array;

  /**
   * @param id - identity fields.
   * @param bars - implemented BARs.
   * @param structures - the virtio structures, in capability order.
   * @param msix - the MSI-X table's BAR, PBA offset and vector count, or null for none.
   */
  constructor(id: ConfigIdentity, bars: readonly PciBarInfo[], structures: readonly VirtioStructure[], msix: { bar: number; pbaOffset: number; vectors: number } | null) {
    const b = this.bytes;
    const dv = new DataView(b.buffer);
    this.bars = bars;
    dv.setUint16(PciConfig.VENDOR_ID, VIRTIO_PCI_VENDOR_ID, true);
    dv.setUint16(PciConfig.DEVICE_ID, VIRTIO_PCI_DEVICE_ID_BASE + id.deviceId, true);
    dv.setUint16(PciConfig.STATUS, PciStatus.CAPABILITIES, true);
    b[PciConfig.REVISION_ID] = id.revision;
    b[PciConfig.CLASS_CODE] = id.classCode & 0xff;
    b[PciConfig.CLASS_CODE + 1] = (id.classCode >>> 8) & 0xff;
    b[PciConfig.CLASS_CODE + 2] = (id.classCode >>> 16) & 0xff;
    dv.setUint16(PciConfig.SUBSYSTEM_VENDOR_ID, id.subsystemVendorId, true);
    dv.setUint16(PciConfig.SUBSYSTEM_ID, id.subsystemId, true);
    b[PciConfig.INTERRUPT_PIN] = 1; // INTA#
    // Command: memory space, bus master, INTx disable.
    this.wmask[PciConfig.COMMAND] = 0x06;
    this.wmask[PciConfig.COMMAND + 1] = 0x04;
    this.wmask[PciConfig.CACHE_LINE_SIZE] = 0xff;
    this.wmask[PciConfig.INTERRUPT_LINE] = 0xff;
    for (const bar of bars) {
      const at = PciConfig.BAR0 + 4 * bar.index;
      const flags = (bar.kind === 'memory64' ? 0x4 : 0) | (bar.prefetchable ? 0x8 : 0);
      dv.setUint32(at, flags, true);
      const mask = (~(bar.size - 1) & ~0xf) >>> 0;
      for (let i = 0; i < 4; i++) this.wmask[at + i] = (mask >>> (8 * i)) & 0xff;
      if (bar.kind === 'memory64') for (let i = 4; i < 8; i++) this.wmask[at + i] = 0xff;
    }

    const virtio: [number, number][] = [];
    let at = 0x40;
    const links: number[] = [];
    const vendorCap = (type: number, bar: number, offset: number, length: number, extra: number): number => {
      const start = at;
      b[at] = PciCapabilityId.VENDOR;
      b[at + 2] = 16 + extra;
      b[at + 3] = type;
      b[at + 4] = bar;
      dv.setUint32(at + 8, offset, true);
      dv.setUint32(at + 12, length, true);
      links.push(at);
      at += 16 + extra;
      return start;
    };
    for (const s of structures) {
      const start = vendorCap(s.type, s.bar, s.offset, s.length, s.type === VirtioPciCapType.NOTIFY ? 4 : 0);
      if (s.type === VirtioPciCapType.NOTIFY) dv.setUint32(start + 16, NOTIFY_OFF_MULTIPLIER, true);
      virtio.push([start, at]);
    }
    const pciCfg = vendorCap(VirtioPciCapType.PCI, VIRTIO_BAR, 0, 0, 4);
    // cap.bar, cap.offset, cap.length and pci_cfg_data are the driver's (§4.1.4.9).
    this.wmask[pciCfg + 4] = 0xff;
    for (let i = 8; i < 20; i++) this.wmask[pciCfg + i] = 0xff;
    virtio.push([pciCfg, pciCfg + 4], [pciCfg + 5, pciCfg + 8]);
    let msixAt = -1;
    if (msix !== null) {
      msixAt = at;
      b[at] = PciCapabilityId.MSIX;
      dv.setUint16(at + 2, msix.vectors - 1, true);
      dv.setUint32(at + 4, msix.bar, true);
      dv.setUint32(at + 8, msix.pbaOffset | msix.bar, true);
      this.wmask[at + 3] = 0xc0; // Message Control: MSI-X Enable, Function Mask
      links.push(at);
      at += 12;
    }
    b[PciConfig.CAPABILITIES_POINTER] = links[0]!;
    for (let i = 0; i < links.length; i++) b[links[i]! + 1] = links[i + 1] ?? 0;
    this.caps = { pciCfg, msix: msixAt, virtio };
    this.initial = b.slice();
  }

  /** Back to the power-on bytes (a function level reset). @example `cs.reset()` */
  reset(): void {
    this.bytes.set(this.initial);
  }

  /**
   * Writes bytes through the write masks.
   * @param offset - first byte.
   * @param data - the bytes.
   * @returns whether any byte written falls on a read-only virtio capability byte.
   * @example `cs.write(4, Uint8Array.of(6, 0))`
   */
  write(offset: number, data: Uint8Array): boolean {
    let readOnlyCap = false;
    for (let i = 0; i < data.length; i++) {
      const at = offset + i;
      const m = this.wmask[at]!;
      this.bytes[at] = (this.bytes[at]! & ~m) | (data[i]! & m);
      if (m === 0 && !readOnlyCap) for (const [s, e] of this.caps.virtio) if (at >= s && at < e) readOnlyCap = true;
    }
    return readOnlyCap;
  }

  /**
   * The address programmed in a BAR, or null when the function does not implement it.
   * @param index - the BAR number.
   * @returns the base address (flag bits cleared).
   * @example `cs.barAddress(0)`
   */
  barAddress(index: number): bigint | null {
    const bar = this.bars.find((x) => x.index === index);
    if (bar === undefined) return null;
    const dv = new DataView(this.bytes.buffer);
    const at = PciConfig.BAR0 + 4 * index;
    const lo = BigInt((dv.getUint32(at, true) & ~0xf) >>> 0);
    return bar.kind === 'memory64' ? (BigInt(dv.getUint32(at + 4, true)) << 32n) | lo : lo;
  }
}
