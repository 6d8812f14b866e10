/**
 * A PCI bus for an emulator (PCI Local Bus 3.0 configuration mechanism #1, BAR decoding): up to 32
 * devices of 8 functions each, configuration accesses by bus/device/function, and each function's
 * memory BARs mapped onto a @vmv/bus MMIO manager while the function's command register enables
 * memory decoding, at the address the guest programmed (VIRTIO 1.2 §4.1 runs on top of it).
 * @module
 */
import { MmioRange } from '@vmv/bus';
import type { MmioManager, MutDeviceMmio, MutDevicePio } from '@vmv/bus';
import { PciCommand, PciConfig } from './constants.js';
import type { PciFunction } from './function.js';

/**
 * A change of a BAR's mapping on the MMIO bus. `refused` when the bus would not take it (it
 * overlaps another device, or does not fit below 2^64): the BAR stays unmapped.
 * @example `onMapping: (e) => { if (e.type === 'refused') log.warn(e.error); }`
 */
export interface PciMappingEvent {
  /** `mapped` (now on the MMIO bus), `unmapped` (taken off it) or `refused` (the bus would not take it). */
  readonly type: 'mapped' | 'unmapped' | 'refused';
  /** The function's device number, 0..31. */
  readonly device: number;
  /** The function number, 0..7. */
  readonly fn: number;
  /** The BAR index, 0..5. */
  readonly bar: number;
  /** The MMIO address the BAR is (or was, or would have been) mapped at. */
  readonly address: bigint;
  /** The BAR's size in bytes. */
  readonly size: number;
  /** For `refused`: what the MMIO manager threw. */
  readonly error?: unknown;
}

/**
 * Options of a {@link PciBus}.
 * @example `const options: PciBusOptions = { mmio: io };`
 */
export interface PciBusOptions {
  /** Where BARs are mapped (an IoManager). */
  readonly mmio: MmioManager;
  /** This bus's number (default 0); configuration accesses to other bus numbers find no device. */
  readonly busNumber?: number;
  /** Told about every BAR mapping change. */
  readonly onMapping?: (event: PciMappingEvent) => void;
}

interface Slot {
  readonly pci: PciFunction;
  /** Per BAR index: where it is mapped now, or null. */
  readonly mapped: Map<number, bigint>;
}

function checkSlot(device: number, fn: number): void {
  if (!Number.isInteger(device) || device < 0 || device > 31) throw new RangeError(`PciBus: device must be in 0..31, got ${String(device)}`);
  if (!Number.isInteger(fn) || fn < 0 || fn > 7) throw new RangeError(`PciBus: function must be in 0..7, got ${String(fn)}`);
}

/**
 * A PCI bus whose functions' BARs live on an @vmv/bus MMIO manager.
 * @example
 * ```ts
 * const io = new IoManager();
 * const pci = new PciBus({ mmio: io });
 * pci.attach(3, 0, fn);
 * io.registerPio(new PioRange(0xcf8, 8), pci.configMechanism()); // x86 ports 0xcf8/0xcfc
 * ```
 */
export class PciBus {
  /** This bus's number. */
  readonly busNumber: number;
  private readonly mmio: MmioManager;
  private readonly onMapping: ((e: PciMappingEvent) => void) | undefined;
  private readonly slots = new Map<number, Slot>();

  /**
   * @param options - see {@link PciBusOptions}.
   * @throws TypeError when `mmio` is not an MMIO manager; RangeError for a bus number outside 0..255.
   */
  constructor(options: PciBusOptions) {
    if (typeof options?.mmio?.registerMmio !== 'function' || typeof options.mmio.unregisterMmio !== 'function') throw new TypeError('PciBus: options.mmio must be an MmioManager (an IoManager)');
    const n = options.busNumber ?? 0;
    if (!Number.isInteger(n) || n < 0 || n > 255) throw new RangeError(`PciBus: busNumber must be in 0..255, got ${String(n)}`);
    this.busNumber = n;
    this.mmio = options.mmio;
    this.onMapping = options.onMapping;
  }

  /**
   * Puts a function at `device`.`fn`. Its BARs are mapped once the guest programs and enables them.
   * @param device - 0..31.
   * @param fn - 0..7.
   * @param pci - the function.
   * @throws RangeError for a bad slot or one already taken; TypeError when `pci` is not a PciFunction.
   * @example `bus.attach(3, 0, fn)`
   */
  attach(device: number, fn: number, pci: PciFunction): void {
    checkSlot(device, fn);
    if (typeof pci?.configRead !== 'function' || typeof pci.barRead !== 'function' || typeof pci.barAddress !== 'function') throw new TypeError('PciBus.attach: pci must be a PciFunction');
    const key = device * 8 + fn;
    if (this.slots.has(key)) throw new RangeError(`PciBus.attach: ${device}.${fn} is taken`);
    this.slots.set(key, { pci, mapped: new Map() });
    this.remap(device, fn);
  }

  /**
   * Takes the function at `device`.`fn` off the bus (unmapping its BARs).
   * @param device - 0..31.
   * @param fn - 0..7.
   * @returns the function.
   * @throws RangeError when the slot is empty.
   * @example `bus.detach(3, 0).reset()`
   */
  detach(device: number, fn: number): PciFunction {
    checkSlot(device, fn);
    const slot = this.slots.get(device * 8 + fn);
    if (slot === undefined) throw new RangeError(`PciBus.detach: nothing at ${device}.${fn}`);
    for (const [bar, address] of slot.mapped) this.unmap(device, fn, slot, bar, address);
    this.slots.delete(device * 8 + fn);
    return slot.pci;
  }

  /**
   * A configuration read. No function there (or another bus number): all ones, as a master abort reads.
   * @param bus - the bus number.
   * @param device - 0..31.
   * @param fn - 0..7.
   * @param offset - 0..255.
   * @param data - filled with the bytes.
   * @example `const id = new Uint8Array(4); bus.configRead(0, 3, 0, 0, id);`
   */
  configRead(bus: number, device: number, fn: number, offset: number, data: Uint8Array): void {
    const slot = bus === this.busNumber ? this.slots.get(device * 8 + fn) : undefined;
    if (slot === undefined || device < 0 || device > 31 || fn < 0 || fn > 7) data.fill(0xff);
    else slot.pci.configRead(offset, data);
  }

  /**
   * A configuration write; BAR mappings follow the command register and BARs written.
   * @param bus - the bus number.
   * @param device - 0..31.
   * @param fn - 0..7.
   * @param offset - 0..255.
   * @param data - the bytes.
   * @example `bus.configWrite(0, 3, 0, 4, Uint8Array.of(0x06, 0)); // memory decode, bus master`
   */
  configWrite(bus: number, device: number, fn: number, offset: number, data: Uint8Array): void {
    const slot = bus === this.busNumber ? this.slots.get(device * 8 + fn) : undefined;
    if (slot === undefined || device < 0 || device > 31 || fn < 0 || fn > 7) return;
    slot.pci.configWrite(offset, data);
    this.remap(device, fn);
  }

  /**
   * The x86 configuration mechanism #1 as a PIO device for ports 0xcf8..0xcff: CONFIG_ADDRESS at
   * 0xcf8 (32-bit), CONFIG_DATA at 0xcfc..0xcff (any width within the dword).
   * @returns the PIO device.
   * @example `io.registerPio(new PioRange(0xcf8, 8), bus.configMechanism())`
   */
  configMechanism(): MutDevicePio {
    let address = 0;
    const target = (port: number) => ({ enabled: (address & 0x8000_0000) !== 0, bus: (address >>> 16) & 0xff, device: (address >>> 11) & 0x1f, fn: (address >>> 8) & 7, offset: (address & 0xfc) + (port - 4) });
    return {
      pioRead: (_base, offset, data) => {
        if (offset < 4) {
          if (offset === 0 && data.length === 4) for (let i = 0; i < 4; i++) data[i] = (address >>> (8 * i)) & 0xff;
          else data.fill(0xff);
          return;
        }
        const t = target(offset);
        if (!t.enabled || offset + data.length > 8) data.fill(0xff);
        else this.configRead(t.bus, t.device, t.fn, t.offset, data);
      },
      pioWrite: (_base, offset, data) => {
        if (offset < 4) {
          if (offset === 0 && data.length === 4) address = (data[0]! | (data[1]! << 8) | (data[2]! << 16) | (data[3]! << 24)) >>> 0;
          return;
        }
        const t = target(offset);
        if (t.enabled && offset + data.length <= 8) this.configWrite(t.bus, t.device, t.fn, t.offset, data);
      },
    };
  }

  private remap(device: number, fn: number): void {
    const slot = this.slots.get(device * 8 + fn)!;
    const command = new Uint8Array(2);
    slot.pci.configRead(PciConfig.COMMAND, command);
    const decode = (command[0]! & PciCommand.MEMORY) !== 0;
    for (const bar of slot.pci.bars) {
      const address = slot.pci.barAddress(bar.index);
      const want = decode && address !== null && address !== 0n ? address : null;
      const now = slot.mapped.get(bar.index) ?? null;
      if (want === now) continue;
      if (now !== null) this.unmap(device, fn, slot, bar.index, now);
      if (want === null) continue;
      const pci = slot.pci;
      const index = bar.index;
      const window: MutDeviceMmio = {
        mmioRead: (_b, offset, data) => pci.barRead(index, offset, data),
        mmioWrite: (_b, offset, data) => pci.barWrite(index, offset, data),
      };
      try {
        this.mmio.registerMmio(new MmioRange(want, bar.size), window);
        slot.mapped.set(index, want);
        this.onMapping?.({ type: 'mapped', device, fn, bar: index, address: want, size: bar.size });
      } catch (error) {
        this.onMapping?.({ type: 'refused', device, fn, bar: index, address: want, size: bar.size, error });
      }
    }
  }

  private unmap(device: number, fn: number, slot: Slot, bar: number, address: bigint): void {
    this.mmio.unregisterMmio(address);
    slot.mapped.delete(bar);
    this.onMapping?.({ type: 'unmapped', device, fn, bar, address, size: slot.pci.bars.find((b) => b.index === bar)!.size });
  }
}
