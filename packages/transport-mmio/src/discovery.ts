/**
 * Telling a guest where a virtio-mmio device is (VIRTIO 1.2 §4.2.1 "MMIO Device Discovery": the
 * platform gives the guest each device's register window and interrupt). Two forms: Linux's
 * kernel command-line parameter `virtio_mmio.device=<size>@<base>:<irq>[:<id>]` (parsed as
 * drivers/virtio/virtio_mmio.c `vm_cmdline_set` does), and a flattened device tree node with
 * `compatible = "virtio,mmio"`.
 * @module
 */

const U64_MAX = 0xffff_ffff_ffff_ffffn;

/**
 * One virtio-mmio device as the guest learns of it.
 * @example
 * ```ts
 * const spec: VirtioMmioDeviceSpec = { base: 0xd000_0000, size: 0x200, irq: 5 };
 * ```
 */
export interface VirtioMmioDeviceSpec {
  /** Guest physical address of the register window. */
  readonly base: number | bigint;
  /** Size of the window in bytes (at least 1; 0x200 is usual). */
  readonly size: number | bigint;
  /** Interrupt number, as the guest's `request_irq` sees it (Linux refuses 0). */
  readonly irq: number;
  /** Optional platform device id (Linux's `:<id>` suffix). */
  readonly id?: number;
}

/**
 * A parsed `virtio_mmio.device=` entry: addresses as bigints.
 * @example `{ base: 0xd0000000n, size: 0x200n, irq: 5 }`
 */
export interface ParsedVirtioMmioDevice {
  /** Guest physical address of the register window. */
  readonly base: bigint;
  /** Size of the window in bytes. */
  readonly size: bigint;
  /** Interrupt number. */
  readonly irq: number;
  /** Platform device id, when given. */
  readonly id?: number;
}

function toU64(value: unknown, label: string): bigint {
  if (typeof value === 'bigint') {
    if (value < 0n || value > U64_MAX) throw new RangeError(`${label} must be in 0..2^64-1, got ${value}`);
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${label} must be a non-negative safe integer or a bigint, got ${value}`);
    return BigInt(value);
  }
  throw new TypeError(`${label} must be a number or a bigint, got ${typeof value}`);
}

function checkSpec(spec: VirtioMmioDeviceSpec, label: string): { base: bigint; size: bigint } {
  if (typeof spec !== 'object' || spec === null) throw new TypeError(`${label}: spec must be an object`);
  const base = toU64(spec.base, `${label}: base`);
  const size = toU64(spec.size, `${label}: size`);
  if (size === 0n) throw new RangeError(`${label}: size must be at least 1`);
  if (base + size - 1n > U64_MAX) throw new RangeError(`${label}: the window 0x${base.toString(16)}+0x${size.toString(16)} ends beyond 2^64`);
  if (!Number.isInteger(spec.irq) || spec.irq < 1 || spec.irq > 0xffff_ffff) throw new RangeError(`${label}: irq must be an integer in 1..2^32-1 (Linux refuses 0), got ${String(spec.irq)}`);
  if (spec.id !== undefined && (!Number.isInteger(spec.id) || spec.id < 0 || spec.id > 0x7fff_ffff)) throw new RangeError(`${label}: id must be an integer in 0..2^31-1, got ${String(spec.id)}`);
  return { base, size };
}

/**
 * The Linux kernel command-line parameter that declares a virtio-mmio device (needs
 * CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES in the guest kernel).
 * @param spec - base, size, irq and optional id.
 * @returns `virtio_mmio.device=<size>@<base>:<irq>[:<id>]` with hexadecimal size and base.
 * @throws TypeError / RangeError for a zero or overflowing window, an irq of 0 or a bad id.
 * @example
 * ```ts
 * formatVirtioMmioCmdline({ base: 0xd000_0000, size: 0x200, irq: 5 }); // 'virtio_mmio.device=0x200@0xd0000000:5'
 * ```
 */
export function formatVirtioMmioCmdline(spec: VirtioMmioDeviceSpec): string {
  const { base, size } = checkSpec(spec, 'formatVirtioMmioCmdline');
  const id = spec.id === undefined ? '' : `:${spec.id}`;
  return `virtio_mmio.device=0x${size.toString(16)}@0x${base.toString(16)}:${spec.irq}${id}`;
}

/** C `strtoull(s, &end, 0)` on an unsigned number: 0x/0X hex, leading 0 octal, else decimal. */
function parseCNumber(s: string, at: number): { value: bigint; end: number } | null {
  let i = at;
  let radix = 10;
  if (s[i] === '0' && (s[i + 1] === 'x' || s[i + 1] === 'X') && /[0-9a-fA-F]/.test(s[i + 2] ?? '')) {
    radix = 16;
    i += 2;
  } else if (s[i] === '0') {
    radix = 8;
  }
  const digits = radix === 16 ? /[0-9a-fA-F]/ : radix === 8 ? /[0-7]/ : /[0-9]/;
  const start = i;
  while (i < s.length && digits.test(s[i]!)) i++;
  if (i === start) return null;
  const text = s.slice(start, i);
  const value = radix === 16 ? BigInt(`0x${text}`) : radix === 8 ? BigInt(`0o${text}`) : BigInt(text);
  return { value, end: i };
}

const SUFFIX_SHIFT: Readonly<Record<string, bigint>> = { k: 10n, m: 20n, g: 30n, t: 40n, p: 50n, e: 60n };

/**
 * Parses one `<size>@<base>:<irq>[:<id>]` value as Linux's `vm_cmdline_set` does: `size` through
 * `memparse` (C number with an optional K/M/G/T/P/E suffix), `base` as a C number (0x hex, 0
 * octal, decimal), `irq` and `id` decimal, nothing after the last field, irq not 0.
 * @param value - the text after `virtio_mmio.device=`.
 * @returns the device.
 * @throws RangeError naming what is malformed.
 * @example
 * ```ts
 * parseVirtioMmioDeviceParam('1K@0x1001e000:74'); // { size: 1024n, base: 0x1001e000n, irq: 74 }
 * ```
 */
export function parseVirtioMmioDeviceParam(value: string): ParsedVirtioMmioDevice {
  if (typeof value !== 'string') throw new TypeError('parseVirtioMmioDeviceParam: value must be a string');
  const fail = (why: string): never => {
    throw new RangeError(`parseVirtioMmioDeviceParam: '${value}': ${why} (expected <size>@<base>:<irq>[:<id>])`);
  };
  const sizeNum = parseCNumber(value, 0) ?? fail('no size');
  let i = sizeNum.end;
  let size = sizeNum.value;
  const shift = SUFFIX_SHIFT[(value[i] ?? '').toLowerCase()];
  if (shift !== undefined) {
    size <<= shift;
    i++;
  }
  if (value[i] !== '@') fail('no @ after the size');
  const baseNum = parseCNumber(value, i + 1) ?? fail('no base address after @');
  i = baseNum.end;
  if (value[i] !== ':') fail('no :<irq> after the base');
  const irqText = /^[0-9]+/.exec(value.slice(i + 1))?.[0] ?? fail('no irq after :');
  i += 1 + irqText.length;
  let id: number | undefined;
  if (i < value.length) {
    if (value[i] !== ':') fail(`unexpected '${value.slice(i)}'`);
    const idText = /^[0-9]+/.exec(value.slice(i + 1))?.[0] ?? fail('no id after the second :');
    i += 1 + idText.length;
    if (i !== value.length) fail(`unexpected '${value.slice(i)}' after the id`);
    id = Number(idText);
  }
  const irq = Number(irqText);
  const spec: VirtioMmioDeviceSpec = id === undefined ? { base: baseNum.value, size, irq } : { base: baseNum.value, size, irq, id };
  try {
    checkSpec(spec, 'parseVirtioMmioDeviceParam');
  } catch (e) {
    fail((e as Error).message.replace('parseVirtioMmioDeviceParam: ', ''));
  }
  return id === undefined ? { base: baseNum.value, size, irq } : { base: baseNum.value, size, irq, id };
}

/**
 * Every `virtio_mmio.device=` parameter of a kernel command line, in order.
 * @param cmdline - a whole kernel command line.
 * @returns the devices declared (possibly none).
 * @throws RangeError when one of the parameters is malformed.
 * @example
 * ```ts
 * parseVirtioMmioCmdline('console=ttyS0 virtio_mmio.device=0x200@0xd0000000:5 quiet');
 * // [{ size: 0x200n, base: 0xd0000000n, irq: 5 }]
 * ```
 */
export function parseVirtioMmioCmdline(cmdline: string): ParsedVirtioMmioDevice[] {
  if (typeof cmdline !== 'string') throw new TypeError('parseVirtioMmioCmdline: cmdline must be a string');
  const out: ParsedVirtioMmioDevice[] = [];
  for (const token of cmdline.split(/\s+/)) {
    // The kernel treats '-' and '_' in parameter names alike.
    const eq = token.indexOf('=');
    if (eq < 0 || token.slice(0, eq).replace(/-/g, '_') !== 'virtio_mmio.device') continue;
    out.push(parseVirtioMmioDeviceParam(token.slice(eq + 1)));
  }
  return out;
}

/**
 * Options of {@link virtioMmioDeviceTreeNode}.
 * @example
 * ```ts
 * const o: DeviceTreeNodeOptions = { base: 0xa000000, size: 0x200, interrupts: [0, 16, 1], dmaCoherent: true }; // GIC SPI 16, edge
 * ```
 */
export interface DeviceTreeNodeOptions {
  /** Guest physical address of the register window. */
  readonly base: number | bigint;
  /** Size of the window in bytes. */
  readonly size: number | bigint;
  /**
   * The `interrupts` cells, as the interrupt controller's binding defines them: `[irq]` for a
   * RISC-V PLIC, `[0, spi, 4]` (SPI, level-high) for an ARM GIC, ...
   */
  readonly interrupts: readonly number[];
  /** `#address-cells` of the parent bus: 1 or 2 (default 2). */
  readonly addressCells?: 1 | 2;
  /** `#size-cells` of the parent bus: 1 or 2 (default 2). */
  readonly sizeCells?: 1 | 2;
  /** Phandle of the interrupt controller, when the node needs an `interrupt-parent`. */
  readonly interruptParent?: number;
  /** Adds `dma-coherent` (guests on ARM need it for cache-coherent virtqueues). */
  readonly dmaCoherent?: boolean;
  /** Node name before the unit address (default `virtio_mmio`). */
  readonly nodeName?: string;
}

/**
 * A device tree node describing a virtio-mmio device.
 * @example `node.dts // 'virtio_mmio@d0000000 {\n\tcompatible = "virtio,mmio";\n...'`
 */
export interface DeviceTreeNode {
  /** `<nodeName>@<unit address in hex>`. */
  readonly name: string;
  /** Always `virtio,mmio`. */
  readonly compatible: 'virtio,mmio';
  /** The `reg` property as u32 cells (address cells, then size cells, most significant first). */
  readonly reg: readonly number[];
  /** The `interrupts` property as u32 cells. */
  readonly interrupts: readonly number[];
  /** The `interrupt-parent` phandle, if any. */
  readonly interruptParent?: number;
  /** Whether `dma-coherent` is present. */
  readonly dmaCoherent: boolean;
  /** The node as device tree source. */
  readonly dts: string;
}

function cells(value: bigint, count: 1 | 2, label: string): number[] {
  if (count === 1) {
    if (value > 0xffff_ffffn) throw new RangeError(`${label} 0x${value.toString(16)} does not fit in one cell`);
    return [Number(value)];
  }
  return [Number(value >> 32n), Number(value & 0xffff_ffffn)];
}

const hexCell = (c: number): string => `0x${c.toString(16)}`;

/**
 * A device tree node for a virtio-mmio device (VIRTIO 1.2 §4.2.1; Linux
 * Documentation/devicetree/bindings/virtio/mmio.yaml).
 * @param options - window, interrupt cells and the parent's cell sizes.
 * @returns the node as data and as DTS text.
 * @throws TypeError / RangeError for a bad window, a value that does not fit its cells, an
 *   interrupt cell that is not a u32, or a node name that is not a DT name.
 * @example
 * ```ts
 * virtioMmioDeviceTreeNode({ base: 0x1e000, size: 0x200, interrupts: [42], addressCells: 1, sizeCells: 1 }).dts;
 * // virtio_mmio@1e000 {
 * //         compatible = "virtio,mmio";
 * //         reg = <0x1e000 0x200>;
 * //         interrupts = <42>;
 * // };
 * ```
 */
export function virtioMmioDeviceTreeNode(options: DeviceTreeNodeOptions): DeviceTreeNode {
  if (typeof options !== 'object' || options === null) throw new TypeError('virtioMmioDeviceTreeNode: options must be an object');
  const base = toU64(options.base, 'virtioMmioDeviceTreeNode: base');
  const size = toU64(options.size, 'virtioMmioDeviceTreeNode: size');
  if (size === 0n || base + size - 1n > U64_MAX) throw new RangeError('virtioMmioDeviceTreeNode: the window must be non-empty and end below 2^64');
  const ac = options.addressCells ?? 2;
  const sc = options.sizeCells ?? 2;
  if ((ac !== 1 && ac !== 2) || (sc !== 1 && sc !== 2)) throw new RangeError('virtioMmioDeviceTreeNode: addressCells and sizeCells must be 1 or 2');
  if (!Array.isArray(options.interrupts) || options.interrupts.length === 0) throw new RangeError('virtioMmioDeviceTreeNode: interrupts must list at least one cell');
  for (const c of options.interrupts) {
    if (!Number.isInteger(c) || c < 0 || c > 0xffff_ffff) throw new RangeError(`virtioMmioDeviceTreeNode: interrupt cell ${String(c)} is not a u32`);
  }
  const parent = options.interruptParent;
  if (parent !== undefined && (!Number.isInteger(parent) || parent < 1 || parent > 0xffff_fffe)) throw new RangeError(`virtioMmioDeviceTreeNode: interruptParent must be a phandle (1..0xfffffffe), got ${String(parent)}`);
  const nodeName = options.nodeName ?? 'virtio_mmio';
  if (!/^[A-Za-z][A-Za-z0-9,._+-]{0,30}$/.test(nodeName)) throw new RangeError(`virtioMmioDeviceTreeNode: '${nodeName}' is not a device tree node name`);
  const reg = [...cells(base, ac, 'virtioMmioDeviceTreeNode: base'), ...cells(size, sc, 'virtioMmioDeviceTreeNode: size')];
  const interrupts = [...options.interrupts];
  const name = `${nodeName}@${base.toString(16)}`;
  const dmaCoherent = options.dmaCoherent === true;
  const lines = [`${name} {`, '\tcompatible = "virtio,mmio";', `\treg = <${reg.map(hexCell).join(' ')}>;`];
  if (parent !== undefined) lines.push(`\tinterrupt-parent = <${hexCell(parent)}>;`);
  lines.push(`\tinterrupts = <${interrupts.join(' ')}>;`);
  if (dmaCoherent) lines.push('\tdma-coherent;');
  lines.push('};');
  const node = { name, compatible: 'virtio,mmio' as const, reg, interrupts, dmaCoherent, dts: lines.join('\n') + '\n' };
  return parent === undefined ? node : { ...node, interruptParent: parent };
}
