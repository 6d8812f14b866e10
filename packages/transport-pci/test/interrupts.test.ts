/** Interrupts: the MSI-X table, PBA, per-vector and function masks (§4.1.5.1.2, PCI MSI-X), INTx through ISR status with read-to-clear (§4.1.4.5, §4.1.5.3, §4.1.5.4), and busInterruptSink. */
import { describe, expect, it } from '@jest/globals';
import { InMemoryInterruptController } from '@vmv/bus';
import { CommonCfg as C, MSIX_BAR, PciCommand, PciConfig as P, VirtioBarOffset as B, busInterruptSink } from '@vmv/transport-pci';
import { TestDevice } from './support/device';
import { bare } from './support/machine';

const MSIX_CAP = (h: ReturnType<typeof bare>) => {
  for (let pos = h.cfgRead(P.CAPABILITIES_POINTER, 1); pos !== 0; pos = h.cfgRead(pos + 1, 1)) if (h.cfgRead(pos, 1) === 0x11) return pos;
  throw new Error('no MSI-X capability');
};

/** A live device with MSI-X enabled, config on vector 0, queue 0 on vector 1, both entries programmed (data 0x40 + v). */
function msixLive(unmask = true) {
  const d = new TestDevice();
  const h = bare(d);
  const cap = MSIX_CAP(h);
  h.cfgWrite(cap + 2, 0x8000, 2);
  for (let v = 0; v < 2; v++) {
    h.barWrite(MSIX_BAR, 16 * v, 0xfee0_0000, 4);
    h.barWrite(MSIX_BAR, 16 * v + 8, 0x40 + v, 4);
    if (unmask) h.barWrite(MSIX_BAR, 16 * v + 12, 0, 4);
  }
  h.toFeaturesOk();
  h.wr(C.CONFIG_MSIX_VECTOR, 0, 2);
  h.wr(C.QUEUE_SELECT, 0, 2);
  h.wr(C.QUEUE_MSIX_VECTOR, 1, 2);
  h.setupQueue(0, 0x1_0000);
  h.wr(C.DEVICE_STATUS, 0xf, 1);
  return { d, h, cap };
}

/** Posts one writable buffer on queue 0's split ring at 0x10000 (size 16) and notifies. */
function request(h: ReturnType<typeof bare>, n: number) {
  h.memory.writeU64(0x1_0000 + 16 * (n % 16), BigInt(0x8_0000));
  h.memory.writeU32(0x1_0000 + 16 * (n % 16) + 8, 8);
  h.memory.writeU16(0x1_0000 + 16 * (n % 16) + 12, 2);
  h.memory.writeU16(0x1_0000 + 256 + 4 + 2 * (n % 16), n % 16);
  h.memory.writeU16(0x1_0000 + 256 + 2, n + 1);
  h.barWrite(0, B.NOTIFY, 0, 2);
}

describe('MSI-X', () => {
  it('entries are masked at reset: a used buffer sets the pending bit; unmasking sends it once', () => {
    const { h } = msixLive(false);
    request(h, 0);
    expect(h.msix).toEqual([]);
    expect(h.barRead(MSIX_BAR, 0x800, 4)).toBe(0b10); // PBA: vector 1 pending
    h.barWrite(MSIX_BAR, 16 + 12, 0, 4);
    expect(h.msix).toEqual([{ vector: 1, message: { addressLo: 0xfee0_0000, addressHi: 0, data: 0x41 } }]);
    expect(h.barRead(MSIX_BAR, 0x800, 4)).toBe(0);
    expect(h.fn.interruptStatus).toBe(0); // the ISR is unused for queues with MSI-X
    expect(h.intx).toEqual([]);
  });

  it('a queue goes to its vector, a configuration change to config_msix_vector (and sets ISR bit 1)', () => {
    const { d, h } = msixLive();
    request(h, 0);
    d.host!.configChanged();
    expect(h.msix.map((m) => m.vector)).toEqual([1, 0]);
    expect(h.fn.interruptStatus).toBe(2);
  });

  it('the function mask holds every vector; clearing it sends what is pending', () => {
    const { h, cap } = msixLive();
    h.cfgWrite(cap + 2, 0xc000, 2);
    expect(h.cfgRead(cap + 2, 2)).toBe(0xc001);
    request(h, 0);
    expect(h.msix).toEqual([]);
    h.cfgWrite(cap + 2, 0x8000, 2);
    expect(h.msix.map((m) => m.vector)).toEqual([1]);
  });

  it('NO_VECTOR: no interrupt at all for that queue (§4.1.5.3) or for configuration changes (§4.1.5.4)', () => {
    const { d, h } = msixLive();
    h.wr(C.QUEUE_SELECT, 0, 2);
    h.wr(C.QUEUE_MSIX_VECTOR, 0xffff, 2);
    request(h, 0);
    h.wr(C.CONFIG_MSIX_VECTOR, 0xffff, 2);
    d.host!.configChanged();
    expect(h.msix).toEqual([]);
    expect(h.intx).toEqual([]);
    expect(h.fn.interruptStatus).toBe(2);
  });

  it('table takes aligned 4- and 8-byte accesses; vector control keeps only the mask bit; the PBA is read-only', () => {
    const { h } = msixLive();
    h.barWrite(MSIX_BAR, 12, 0xffff_fffe, 4);
    expect(h.barRead(MSIX_BAR, 12, 4)).toBe(0);
    h.barWrite(MSIX_BAR, 0, 0x1_fee0_1000n, 8);
    expect(h.barRead(MSIX_BAR, 0, 8)).toBe(0x1_fee0_1000);
    expect(h.barRead(MSIX_BAR, 2, 2)).toBe(0);
    h.barWrite(MSIX_BAR, 1, 0, 1);
    h.barWrite(MSIX_BAR, 0x800, 1, 4);
    expect(h.barRead(MSIX_BAR, 0x400, 4)).toBe(0);
    expect(h.kinds()).toEqual(['bad-access', 'bad-access', 'read-only', 'bad-access']);
  });
});

describe('INTx and ISR status', () => {
  it('without MSI-X: ISR bit 0, the line up and the status bit set; reading ISR returns it, clears it and lowers the line', () => {
    const d = new TestDevice();
    const h = bare(d);
    h.toLive();
    request(h, 0);
    expect(h.fn.interruptStatus).toBe(1);
    expect(h.intx).toEqual([true]);
    expect(h.cfgRead(P.STATUS, 2) & 0x8).toBe(0x8);
    expect(h.barRead(0, B.ISR, 1)).toBe(1);
    expect(h.intx).toEqual([true, false]);
    expect(h.barRead(0, B.ISR, 1)).toBe(0);
    expect(h.cfgRead(P.STATUS, 2) & 0x8).toBe(0);
    d.host!.configChanged();
    expect(h.barRead(0, B.ISR, 1)).toBe(2);
  });

  it('INTx disable holds the line low; a wide ISR read or a write is refused and clears nothing', () => {
    const h = bare(new TestDevice());
    h.cfgWrite(P.COMMAND, PciCommand.INTX_DISABLE, 2);
    h.toLive();
    request(h, 0);
    expect(h.fn.interruptStatus).toBe(1);
    expect(h.intx).toEqual([]);
    h.cfgWrite(P.COMMAND, 0, 2);
    expect(h.intx).toEqual([true]);
    expect(h.barRead(0, B.ISR, 4)).toBe(0);
    h.barWrite(0, B.ISR, 0, 1);
    expect(h.fn.interruptStatus).toBe(1);
    expect(h.kinds()).toEqual(['reserved', 'read-only']); // 4 bytes do not fit the 1-byte structure
  });

  it('enabling MSI-X lowers INTx; a device reset clears ISR and the line', () => {
    const h = bare(new TestDevice());
    h.toLive();
    request(h, 0);
    h.cfgWrite(MSIX_CAP(h) + 2, 0x8000, 2);
    expect(h.intx).toEqual([true, false]);
    h.cfgWrite(MSIX_CAP(h) + 2, 0, 2);
    expect(h.intx).toEqual([true, false, true]);
    h.wr(C.DEVICE_STATUS, 0, 1);
    expect(h.intx).toEqual([true, false, true, false]);
    expect(h.fn.interruptStatus).toBe(0);
  });
});

describe('busInterruptSink', () => {
  it('MSI-X messages configure and trigger the vector; INTx raises and lowers a level line, raised again after EOI while high', () => {
    const irqs = new InMemoryInterruptController();
    const msi = irqs.createMsiGroup(32, 2);
    const intx = irqs.createLegacyGroup(11, 1, 'level');
    const { sink, dispose } = busInterruptSink({ msi, intx });
    sink.msix(1, { addressLo: 0xfee0_0000, addressHi: 0, data: 0x41 });
    expect(msi.getConfig(1)?.data).toBe(0x41);
    sink.intx(true);
    expect(irqs.isAsserted(11)).toBe(true);
    irqs.ack(11);
    expect(irqs.isAsserted(11)).toBe(true);
    sink.intx(false);
    expect(irqs.isAsserted(11)).toBe(false);
    expect(irqs.takeDeliveries().map((d) => d.irq)).toEqual([33, 11, 11]);
    dispose();
    expect(() => busInterruptSink({ intx, intxIndex: 1 })).toThrow(RangeError);
  });
});
