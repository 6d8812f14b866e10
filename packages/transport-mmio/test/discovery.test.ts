/** Discovery helpers (VIRTIO 1.2 §4.2.1): Linux's virtio_mmio.device= parameter and a device tree node. */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { formatVirtioMmioCmdline, parseVirtioMmioCmdline, parseVirtioMmioDeviceParam, virtioMmioDeviceTreeNode } from '@vmv/transport-mmio';

describe('virtio_mmio.device=<size>@<base>:<irq>[:<id>]', () => {
  it('formats the parameter', () => {
    expect(formatVirtioMmioCmdline({ base: 0xd000_0000, size: 0x200, irq: 5 })).toBe('virtio_mmio.device=0x200@0xd0000000:5');
    expect(formatVirtioMmioCmdline({ base: 0x1_0000_0000n, size: 4096n, irq: 48, id: 3 })).toBe('virtio_mmio.device=0x1000@0x100000000:48:3');
  });

  it('parses the forms of Linux\'s own examples', () => {
    expect(parseVirtioMmioDeviceParam('0x100@0x100b0000:48')).toEqual({ size: 0x100n, base: 0x100b_0000n, irq: 48 });
    expect(parseVirtioMmioDeviceParam('1K@0x1001e000:74')).toEqual({ size: 1024n, base: 0x1001_e000n, irq: 74 });
    expect(parseVirtioMmioDeviceParam('4k@3221225472:5:2')).toEqual({ size: 4096n, base: 0xc000_0000n, irq: 5, id: 2 });
    expect(parseVirtioMmioDeviceParam('1M@010:7')).toEqual({ size: 1n << 20n, base: 8n, irq: 7 }); // C octal
    expect(parseVirtioMmioDeviceParam('0x1G@0x0:9')).toEqual({ size: 1n << 30n, base: 0n, irq: 9 });
  });

  it('finds every device in a kernel command line', () => {
    const cmdline = 'console=ttyS0 virtio_mmio.device=0x200@0xd0000000:5 root=/dev/vda virtio-mmio.device=512@0xd0000200:6 quiet';
    expect(parseVirtioMmioCmdline(cmdline)).toEqual([
      { size: 0x200n, base: 0xd000_0000n, irq: 5 },
      { size: 512n, base: 0xd000_0200n, irq: 6 },
    ]);
    expect(parseVirtioMmioCmdline('quiet')).toEqual([]);
  });

  it('refuses what Linux refuses: missing fields, trailing text, irq 0, a zero or overflowing window', () => {
    for (const bad of ['', '@0x1000:5', '0x200', '0x200@:5', '0x200@0x1000', '0x200@0x1000:', '0x200@0x1000:0', '0x200@0x1000:5x', '0x200@0x1000:5:', '0x200@0x1000:5:1:2', '0@0x1000:5', '2@0xffffffffffffffff:5', 'x@1:1']) {
      expect(() => parseVirtioMmioDeviceParam(bad)).toThrow(RangeError);
    }
    expect(() => formatVirtioMmioCmdline({ base: 0x1000, size: 0x200, irq: 0 })).toThrow(RangeError);
    expect(() => formatVirtioMmioCmdline({ base: -1, size: 0x200, irq: 1 })).toThrow(RangeError);
    expect(() => parseVirtioMmioCmdline('virtio_mmio.device=junk')).toThrow(/junk/);
  });

  it('round-trips any valid device', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 1n << 40n }), fc.bigInt({ min: 0n, max: 1n << 48n }), fc.integer({ min: 1, max: 0xffff_ffff }), fc.option(fc.integer({ min: 0, max: 0x7fff_ffff }), { nil: undefined }), (size, base, irq, id) => {
        const spec = id === undefined ? { size, base, irq } : { size, base, irq, id };
        expect(parseVirtioMmioCmdline(formatVirtioMmioCmdline(spec))).toEqual([spec]);
      }),
      { numRuns: 200 },
    );
  });

  it('parsing arbitrary text yields devices or a RangeError, nothing else', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        try {
          const d = parseVirtioMmioDeviceParam(s);
          expect(d.size).toBeGreaterThan(0n);
          expect(d.irq).toBeGreaterThan(0);
        } catch (e) {
          expect(e).toBeInstanceOf(RangeError);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('device tree node', () => {
  it('matches the spec\'s example (one-cell address and size, one interrupt cell)', () => {
    const node = virtioMmioDeviceTreeNode({ base: 0x1e000, size: 0x200, interrupts: [42], addressCells: 1, sizeCells: 1 });
    expect(node.name).toBe('virtio_mmio@1e000');
    expect(node.reg).toEqual([0x1e000, 0x200]);
    expect(node.dts).toBe('virtio_mmio@1e000 {\n\tcompatible = "virtio,mmio";\n\treg = <0x1e000 0x200>;\n\tinterrupts = <42>;\n};\n');
  });

  it('writes two-cell addresses, a GIC interrupt specifier, interrupt-parent and dma-coherent', () => {
    const node = virtioMmioDeviceTreeNode({ base: 0x1_0a00_0000n, size: 0x200, interrupts: [0, 16, 4], interruptParent: 0x8001, dmaCoherent: true });
    expect(node).toMatchObject({ name: 'virtio_mmio@10a000000', compatible: 'virtio,mmio', reg: [1, 0x0a00_0000, 0, 0x200], interrupts: [0, 16, 4], interruptParent: 0x8001, dmaCoherent: true });
    expect(node.dts).toBe('virtio_mmio@10a000000 {\n\tcompatible = "virtio,mmio";\n\treg = <0x1 0xa000000 0x0 0x200>;\n\tinterrupt-parent = <0x8001>;\n\tinterrupts = <0 16 4>;\n\tdma-coherent;\n};\n');
  });

  it('refuses values that do not fit', () => {
    expect(() => virtioMmioDeviceTreeNode({ base: 0x1_0000_0000, size: 0x200, interrupts: [1], addressCells: 1 })).toThrow(RangeError);
    expect(() => virtioMmioDeviceTreeNode({ base: 0, size: 0, interrupts: [1] })).toThrow(RangeError);
    expect(() => virtioMmioDeviceTreeNode({ base: 0, size: 1, interrupts: [] })).toThrow(RangeError);
    expect(() => virtioMmioDeviceTreeNode({ base: 0, size: 1, interrupts: [-1] })).toThrow(RangeError);
    expect(() => virtioMmioDeviceTreeNode({ base: 0, size: 1, interrupts: [1], nodeName: 'bad name' })).toThrow(RangeError);
  });
});
