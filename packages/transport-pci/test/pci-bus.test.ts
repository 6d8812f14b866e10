/** PciBus: configuration accesses by bus/device/function, configuration mechanism #1, and BARs mapped on the MMIO bus as the guest programs and enables them. */
import { describe, expect, it } from '@jest/globals';
import { IoManager, MmioRange, PioRange } from '@vmv/bus';
import { GuestMemory } from '@vmv/memory';
import { CommonCfg as C, PciBus, PciCommand, PciConfig as P, VirtioPciFunction } from '@vmv/transport-pci';
import type { PciMappingEvent } from '@vmv/transport-pci';
import { TestDevice } from './support/device';

function rig() {
  const io = new IoManager();
  const events: PciMappingEvent[] = [];
  const bus = new PciBus({ mmio: io, onMapping: (e) => events.push(e) });
  const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x1000) }]);
  const fn = new VirtioPciFunction(new TestDevice(), { memory, interrupts: { msix: () => undefined, intx: () => undefined } });
  bus.attach(3, 0, fn);
  const cfg = (offset: number, value: number, width = 4) => {
    const d = new Uint8Array(width);
    for (let i = 0; i < width; i++) d[i] = (value >>> (8 * i)) & 0xff;
    bus.configWrite(0, 3, 0, offset, d);
  };
  return { io, bus, fn, events, cfg };
}

describe('PciBus', () => {
  it('an empty slot, another bus or a bad slot reads all ones; writes there go nowhere', () => {
    const { bus } = rig();
    for (const [b, d, f] of [[0, 4, 0], [1, 3, 0], [0, 3, 1], [0, 40, 0]]) {
      const data = new Uint8Array(4);
      bus.configRead(b!, d!, f!, 0, data);
      expect([...data]).toEqual([0xff, 0xff, 0xff, 0xff]);
      bus.configWrite(b!, d!, f!, 4, Uint8Array.of(6, 0));
    }
    expect(() => bus.attach(3, 0, rig().fn)).toThrow(RangeError);
    expect(() => bus.attach(32, 0, rig().fn)).toThrow(RangeError);
  });

  it('BARs are mapped when memory decoding is on, moved when reprogrammed, unmapped when it goes off or on detach', () => {
    const { io, bus, events, cfg } = rig();
    cfg(P.BAR0, 0xe000_0000);
    cfg(P.BAR0 + 8, 0xe001_0000);
    expect(events).toEqual([]);
    cfg(P.COMMAND, PciCommand.MEMORY, 2);
    expect(events.map((e) => [e.type, e.bar, e.address])).toEqual([['mapped', 0, 0xe000_0000n], ['mapped', 2, 0xe001_0000n]]);
    const status = new Uint8Array(2);
    io.mmioRead(0xe000_0000 + C.NUM_QUEUES, status);
    expect(status[0]).toBe(1);
    cfg(P.BAR0, 0xe800_0000);
    expect(events.slice(2).map((e) => [e.type, e.address])).toEqual([['unmapped', 0xe000_0000n], ['mapped', 0xe800_0000n]]);
    cfg(P.COMMAND, 0, 2);
    expect(events.slice(4).map((e) => e.type)).toEqual(['unmapped', 'unmapped']);
    cfg(P.COMMAND, PciCommand.MEMORY, 2);
    bus.detach(3, 0);
    expect(io.mmioDevice(0xe800_0000)).toBeUndefined();
  });

  it('a BAR programmed over another device is refused and stays unmapped', () => {
    const { io, events, cfg } = rig();
    io.registerMmio(new MmioRange(0xe000_0000, 0x1000), { mmioRead: (_b, _o, d) => d.fill(7), mmioWrite: () => undefined });
    cfg(P.BAR0, 0xe000_0000);
    cfg(P.COMMAND, PciCommand.MEMORY, 2);
    expect(events[0]).toMatchObject({ type: 'refused', bar: 0 });
    expect((events[0]!.error as Error).name).toBe('Bus.DeviceOverlapError');
  });

  it('configuration mechanism #1 (ports 0xcf8/0xcfc)', () => {
    const { io, bus } = rig();
    io.registerPio(new PioRange(0xcf8, 8), bus.configMechanism());
    const addr = (dev: number, off: number) => Uint8Array.of(off & 0xfc, (dev << 3) & 0xff, 0, 0x80);
    io.pioWrite(0xcf8, addr(3, 0));
    const id = new Uint8Array(4);
    io.pioRead(0xcfc, id);
    expect([...id]).toEqual([0xf4, 0x1a, 0x44, 0x10]);
    const dev = new Uint8Array(2);
    io.pioRead(0xcfe, dev);
    expect([...dev]).toEqual([0x44, 0x10]);
    const back = new Uint8Array(4);
    io.pioRead(0xcf8, back);
    expect(back[3]).toBe(0x80);
    io.pioWrite(0xcf8, addr(9, 0));
    io.pioRead(0xcfc, id);
    expect([...id]).toEqual([0xff, 0xff, 0xff, 0xff]);
    io.pioWrite(0xcf8, Uint8Array.of(0, 0x18, 0, 0)); // enable bit clear
    io.pioRead(0xcfc, id);
    expect([...id]).toEqual([0xff, 0xff, 0xff, 0xff]);
  });
});
