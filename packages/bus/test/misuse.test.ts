/**
 * Every public entry point, fed arbitrary values where it expects arguments: the only errors that
 * may come out are @vmv/bus errors (listed names) and labelled TypeError/RangeError (the message
 * names the entry point, "<label>: ..."), never an engine error such as "Cannot read properties of
 * undefined".
 */
import { describe, it } from '@jest/globals';
import fc from 'fast-check';
import { AddressAllocator, BUS_ERROR_NAMES, IdAllocator, InMemoryInterruptController, IoMailbox, IoExitClient, IoManager, MmioBus, MmioRange, PioBus, PioRange, ResourceAllocator } from '@vmv/bus';

function judge(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    const err = e as Error;
    if ((BUS_ERROR_NAMES as readonly string[]).includes(err?.name)) return;
    if (err instanceof TypeError || err instanceof RangeError) {
      if (/^[\w.]+( [\w.]+)*:/.test(err.message) || /^[\w.]+\.\w+: /.test(err.message)) return;
      throw new Error(`unlabelled ${err.name}: ${err.message}`, { cause: e });
    }
    throw new Error(`unexpected ${String(err?.name)}: ${String(err?.message)}`, { cause: e });
  }
}

const any = fc.oneof(fc.constant({ toString: 0 }), fc.constant(Object.create(null) as unknown), fc.anything({ withBigInt: true }), fc.integer(), fc.bigInt(), fc.double(), fc.constant(undefined), fc.constant(null), fc.uint8Array({ maxLength: 4 }));

describe('misuse of every entry point yields typed or labelled errors', () => {
  it('property: arbitrary arguments', () => {
    const dev = { pioRead() {}, pioWrite() {}, mmioRead() {}, mmioWrite() {} };
    fc.assert(
      fc.property(any, any, any, (a, b, c) => {
        const pio = new PioBus();
        const mmio = new MmioBus();
        pio.register(new PioRange(0x10, 8), dev);
        mmio.register(new MmioRange(0x1000, 0x100), dev);
        const io = new IoManager();
        const alloc = new ResourceAllocator({ pio: { base: 0, size: 0x100 }, mmio: { base: 0x1000, size: 0x10000 }, legacyIrq: { base: 5, size: 4 }, msi: { base: 0, size: 8 }, memSlot: { base: 0, size: 4 } });
        const ctl = new InMemoryInterruptController();
        const g = ctl.createLegacyGroup(4, 2, 'level');
        const m = ctl.createMsiGroup(0, 2);
        const calls: Array<() => unknown> = [
          () => new PioRange(a as never, b as never),
          () => new MmioRange(a as never, b as never),
          () => pio.register(a as never, b as never),
          () => pio.read(a as never, b as never),
          () => pio.write(a as never, b as never),
          () => pio.find(a as never),
          () => pio.unregister(a as never),
          () => pio.checkAccess(a as never, b as never),
          () => pio.overlapping(a as never),
          () => mmio.register(a as never, b as never),
          () => mmio.read(a as never, b as never),
          () => mmio.write(a as never, b as never),
          () => mmio.find(a as never),
          () => mmio.unregister(a as never),
          () => mmio.checkAccess(a as never, b as never),
          () => mmio.overlapping(a as never),
          () => new IoManager(a as never),
          () => io.registerPio(a as never, b as never),
          () => io.registerMmio(a as never, b as never),
          () => io.registerResources(a as never, b as never),
          () => io.registerResources(dev, [a, b] as never),
          () => io.unregisterResources(a as never),
          () => io.unregisterResources([a] as never),
          () => new ResourceAllocator(a as never),
          () => new ResourceAllocator({ pio: a } as never),
          () => alloc.allocate(a as never),
          () => alloc.allocate([a, b] as never),
          () => alloc.allocate([{ kind: 'mmio', size: a, align: b, base: c }] as never),
          () => alloc.allocate([{ kind: 'pio', size: a, align: b, base: c }] as never),
          () => alloc.allocate([{ kind: 'legacyIrq', irq: a }, { kind: 'msi', count: b }, { kind: 'memSlot', count: c, slot: a }] as never),
          () => alloc.free(a as never),
          () => alloc.free([a] as never),
          () => alloc.free([{ kind: 'pio', base: a, size: b }] as never),
          () => alloc.allocated(a as never),
          () => new AddressAllocator(a as never, b as never, c as never),
          () => new AddressAllocator(0, 0x100).allocate(a as never, b as never, c as never),
          () => new AddressAllocator(0, 0x100).free(a as never, b as never),
          () => new IdAllocator(a as never, b as never),
          () => new IdAllocator(0, 8).allocate(a as never, b as never),
          () => new InMemoryInterruptController(a as never),
          () => ctl.createLegacyGroup(a as never, b as never, c as never),
          () => ctl.createMsiGroup(a as never, b as never),
          () => ctl.destroyGroup(a as never),
          () => ctl.ack(a as never),
          () => ctl.isAsserted(a as never),
          () => g.trigger(a as never),
          () => g.mask(a as never),
          () => g.unmask(a as never),
          () => g.deassert(a as never),
          () => g.onResample(a as never),
          () => m.update(a as never, b as never),
          () => m.update(0, a as never),
          () => m.getConfig(a as never),
          () => IoMailbox.create(a as never),
          () => IoMailbox.create({ slots: a, maxAccess: b } as never),
          () => new IoMailbox(a as never),
          () => new IoExitClient(a as never, b as never, c as never),
          () => new IoExitClient(IoMailbox.create({ slots: 1 }).buffer, 0, a as never),
        ];
        for (const call of calls) judge(call);
      }),
      { numRuns: 150 },
    );
  });
});
