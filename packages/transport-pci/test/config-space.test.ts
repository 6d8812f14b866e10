/** The PCI configuration space of a virtio function: identity (§4.1.2), capabilities (§4.1.4), BAR sizing, command and status, the PCI configuration access window (§4.1.4.9). */
import { describe, expect, it } from '@jest/globals';
import { DeviceId } from '@vmv/device-trait';
import { CommonCfg as C, PciConfig as P, VIRTIO_PCI_VENDOR_ID, VirtioBarOffset as B, VirtioPciCapType as T, pciClassCode } from '@vmv/transport-pci';
import { TestDevice } from './support/device';
import { bare } from './support/machine';

/** Walks the capability list as Linux's pci_find_capability does. */
function capabilities(cfgRead: (o: number, w?: number) => number) {
  const caps: { pos: number; id: number; len: number; type: number; bar: number; offset: number; length: number }[] = [];
  for (let pos = cfgRead(P.CAPABILITIES_POINTER, 1), ttl = 48; pos !== 0 && ttl > 0; pos = cfgRead(pos + 1, 1), ttl--) {
    caps.push({ pos, id: cfgRead(pos, 1), len: cfgRead(pos + 2, 1), type: cfgRead(pos + 3, 1), bar: cfgRead(pos + 4, 1), offset: cfgRead(pos + 8), length: cfgRead(pos + 12) });
  }
  return caps;
}

describe('identity (§4.1.2.1)', () => {
  it('vendor 0x1af4, device 0x1040 + id, revision 1, class per type, subsystem ids, INTA', () => {
    for (const id of [DeviceId.ENTROPY, DeviceId.BLOCK, DeviceId.CONSOLE]) {
      const h = bare(new TestDevice({ deviceId: id }));
      expect(h.cfgRead(P.VENDOR_ID, 2)).toBe(VIRTIO_PCI_VENDOR_ID);
      expect(h.cfgRead(P.DEVICE_ID, 2)).toBe(0x1040 + id);
      expect(h.cfgRead(P.REVISION_ID, 1)).toBe(1);
      expect(h.cfgRead(P.REVISION_ID, 4) >>> 8).toBe(pciClassCode(id));
      expect(h.cfgRead(P.SUBSYSTEM_VENDOR_ID, 2)).toBe(0x1af4);
      expect(h.cfgRead(P.SUBSYSTEM_ID, 2)).toBeGreaterThanOrEqual(0x40);
      expect(h.cfgRead(P.HEADER_TYPE, 1)).toBe(0);
      expect(h.cfgRead(P.INTERRUPT_PIN, 1)).toBe(1);
      expect(h.cfgRead(P.STATUS, 2) & 0x10).toBe(0x10);
    }
    expect(pciClassCode(DeviceId.BLOCK)).toBe(0x010000);
    expect(pciClassCode(DeviceId.ENTROPY)).toBe(0xff0000);
  });

  it('identity options are checked', () => {
    const h = bare(new TestDevice(), { subsystemId: 0x1234, classCode: 0x078000, revision: 2 });
    expect(h.cfgRead(P.SUBSYSTEM_ID, 2)).toBe(0x1234);
    expect(h.cfgRead(P.REVISION_ID, 1)).toBe(2);
    expect(() => bare(new TestDevice(), { subsystemId: 0x10000 })).toThrow(RangeError);
    expect(() => bare(new TestDevice(), { msixVectors: 0x801 })).toThrow(RangeError);
    expect(() => bare(new TestDevice(), { interrupts: {} as never })).toThrow(TypeError);
  });
});

describe('capabilities (§4.1.4)', () => {
  it('common, notify, ISR, device, PCI access, MSI-X; cap_len covers each structure', () => {
    const h = bare(new TestDevice({ queueMaxSizes: [64, 64, 64], configSize: 24 }));
    const caps = capabilities(h.cfgRead);
    expect(caps.map((c) => [c.id, c.type])).toEqual([[9, T.COMMON], [9, T.NOTIFY], [9, T.ISR], [9, T.DEVICE], [9, T.PCI], [0x11, caps[5]!.type]]);
    const [common, notify, isr, device, pci] = caps;
    expect(common).toMatchObject({ len: 16, bar: 0, offset: B.COMMON, length: 0x40 });
    expect(notify).toMatchObject({ len: 20, bar: 0, offset: B.NOTIFY, length: 12 });
    expect(h.cfgRead(notify!.pos + 16)).toBe(4); // notify_off_multiplier
    expect(isr).toMatchObject({ len: 16, bar: 0, offset: B.ISR, length: 1 });
    expect(device).toMatchObject({ len: 16, bar: 0, offset: B.DEVICE, length: 24 });
    expect(pci!.len).toBe(20);
    for (const c of [common, notify, isr, device]) expect(c!.offset % 4).toBe(0);
    // MSI-X: table size 4 (3 queues + config), table and PBA in BAR 2.
    const msix = caps[5]!.pos;
    expect(h.cfgRead(msix + 2, 2)).toBe(3);
    expect(h.cfgRead(msix + 4) & 7).toBe(2);
    expect(h.cfgRead(msix + 8) & 7).toBe(2);
    expect(h.diagnostics).toEqual([]);
  });

  it('no device capability without a device configuration; no MSI-X with msixVectors 0', () => {
    const h = bare(new TestDevice({ configSize: 0 }), { msixVectors: 0 });
    expect(capabilities(h.cfgRead).map((c) => c.type)).toEqual([T.COMMON, T.NOTIFY, T.ISR, T.PCI]);
    expect(h.fn.bars.map((b) => b.index)).toEqual([0]);
  });

  it('the driver cannot write a virtio capability: bytes kept, read-only reported', () => {
    const h = bare(new TestDevice());
    const [common] = capabilities(h.cfgRead);
    h.cfgWrite(common!.pos + 8, 0x1234);
    expect(h.cfgRead(common!.pos + 8)).toBe(B.COMMON);
    expect(h.kinds()).toEqual(['read-only']);
  });
});

describe('BARs, command, status', () => {
  it('sizing: all-ones written, the size mask read back; BAR 0 64-bit, BAR 2 32-bit, the rest absent', () => {
    const h = bare(new TestDevice());
    for (let i = 0; i < 6; i++) h.cfgWrite(P.BAR0 + 4 * i, 0xffff_ffff);
    expect(h.cfgRead(P.BAR0)).toBe((~(0x4000 - 1) & ~0xf | 0x4) >>> 0);
    expect(h.cfgRead(P.BAR0 + 4)).toBe(0xffff_ffff);
    expect(h.cfgRead(P.BAR0 + 8)).toBe((~(0x1000 - 1) & ~0xf) >>> 0);
    for (const i of [3, 4, 5]) expect(h.cfgRead(P.BAR0 + 4 * i)).toBe(0);
    expect(h.cfgRead(P.ROM_ADDRESS)).toBe(0);
    h.cfgWrite(P.BAR0, 0xe000_0000);
    h.cfgWrite(P.BAR0 + 4, 1);
    expect(h.fn.barAddress(0)).toBe(0x1_e000_0000n);
    expect(h.fn.barAddress(3)).toBeNull();
    expect(h.fn.bars).toEqual([{ index: 0, size: 0x4000, kind: 'memory64', prefetchable: false }, { index: 2, size: 0x1000, kind: 'memory32', prefetchable: false }]);
  });

  it('command keeps only memory, bus master and INTx disable; status ignores writes; reset restores power-on', () => {
    const h = bare(new TestDevice());
    h.cfgWrite(P.COMMAND, 0xffff, 2);
    expect(h.cfgRead(P.COMMAND, 2)).toBe(0x0406);
    h.cfgWrite(P.STATUS, 0xffff, 2);
    expect(h.cfgRead(P.STATUS, 2)).toBe(0x10);
    h.cfgWrite(P.INTERRUPT_LINE, 11, 1);
    expect(h.cfgRead(P.INTERRUPT_LINE, 1)).toBe(11);
    h.cfgWrite(P.VENDOR_ID, 0, 2);
    expect(h.cfgRead(P.VENDOR_ID, 2)).toBe(0x1af4);
    h.fn.reset();
    expect(h.cfgRead(P.COMMAND, 2)).toBe(0);
    expect(h.cfgRead(P.INTERRUPT_LINE, 1)).toBe(0);
  });

  it('accesses outside 256 bytes or of no bytes read 0 and are reported; any width inside works', () => {
    const h = bare(new TestDevice());
    expect(h.cfgRead(0xfe, 4)).toBe(0);
    h.cfgWrite(0x100, 1, 1);
    h.fn.configRead(0, new Uint8Array(0));
    expect(h.kinds()).toEqual(['reserved', 'reserved', 'bad-access']);
    const whole = new Uint8Array(256);
    h.fn.configRead(0, whole);
    expect(whole[0]).toBe(0xf4);
    expect(whole[0x34]).toBe(0x40);
  });
});

describe('the PCI configuration access capability (§4.1.4.9)', () => {
  it('reads and writes the BAR through pci_cfg_data with cap.bar, cap.offset, cap.length', () => {
    const h = bare(new TestDevice());
    const pci = capabilities(h.cfgRead).find((c) => c.type === T.PCI)!.pos;
    h.cfgWrite(pci + 4, 0, 1);
    h.cfgWrite(pci + 12, 2);
    h.cfgWrite(pci + 8, B.COMMON + C.NUM_QUEUES);
    expect(h.cfgRead(pci + 16, 2)).toBe(1);
    h.cfgWrite(pci + 12, 1);
    h.cfgWrite(pci + 8, B.COMMON + C.DEVICE_STATUS);
    h.cfgWrite(pci + 16, 1, 1); // ACKNOWLEDGE through the window
    expect(h.fn.status).toBe(1);
    expect(h.cfgRead(pci + 16, 1)).toBe(1);
  });

  it('a window outside every structure, misaligned or of a bad length is refused and reads 0', () => {
    const h = bare(new TestDevice());
    const pci = capabilities(h.cfgRead).find((c) => c.type === T.PCI)!.pos;
    for (const [bar, offset, length] of [[0, 0x800, 4], [0, 2, 4], [0, 0, 3], [5, 0, 4], [0, 0x3e, 4]] as const) {
      h.cfgWrite(pci + 4, bar, 1);
      h.cfgWrite(pci + 8, offset);
      h.cfgWrite(pci + 12, length);
      expect(h.cfgRead(pci + 16)).toBe(0);
      h.cfgWrite(pci + 16, 0xffff_ffff);
    }
    expect(h.kinds()).toEqual(new Array(10).fill('refused'));
    expect(h.fn.status).toBe(0);
  });
});
