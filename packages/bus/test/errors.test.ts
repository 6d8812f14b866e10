import { describe, expect, it } from '@jest/globals';
import * as bus from '@vmv/bus';
import { BUS_ERROR_CODES, BUS_ERROR_NAMES, BusError, DeviceOverlapError, isBusError } from '@vmv/bus';

describe('errors', () => {
  it('every exported error class has a listed name and its listed code', () => {
    const classes = (Object.values(bus) as unknown[]).filter((v) => typeof v === 'function' && (v as { prototype: unknown }).prototype instanceof BusError);
    expect(classes.length + 1).toBe(BUS_ERROR_NAMES.length); // the list has the base, Bus.Error, too
    const samples: BusError[] = [
      new bus.InvalidRangeError('r', { space: 'pio', base: 0, size: 0 }),
      new bus.DeviceOverlapError('a', 'b'),
      new bus.EmptyAccessError('pio', 1),
      new bus.AccessStraddlesRangeError('pio', 1, 2, 'r'),
      new bus.DeviceNotFoundError('mmio', 1n),
      new bus.InvalidConstraintError('r', {}),
      new bus.ResourceExhaustedError('p', {}),
      new bus.ResourceUnavailableError('p', {}),
      new bus.ResourceNotAllocatedError('p', {}),
      new bus.InvalidInterruptIndexError(1, 1),
      new bus.InterruptSourceBusyError('msi', 0, 1),
      new bus.InvalidMsiConfigError('data', -1),
      new bus.MailboxTimeoutError(0, 1),
      new bus.MailboxRemoteError('X', 'Y'),
    ];
    expect(['Bus.Error', ...samples.map((e) => e.name)].sort()).toEqual([...BUS_ERROR_NAMES].sort());
    for (const e of samples) {
      expect(e.code).toBe(BUS_ERROR_CODES[e.name as keyof typeof BUS_ERROR_CODES]);
      expect(isBusError(e)).toBe(true);
      expect(isBusError(e, e.name as (typeof BUS_ERROR_NAMES)[number])).toBe(true);
            expect(e.message.startsWith(e.shortMessage)).toBe(true);
    }
  });

  it('guards by name, not instanceof, and formats details in hex', () => {
    const e = new DeviceOverlapError('pio[0x0..0x1]', 'pio[0x1..0x2]');
    expect(e.message).toBe('range pio[0x0..0x1] overlaps registered range pio[0x1..0x2]');
    expect(e).toMatchObject({ range: 'pio[0x0..0x1]', existing: 'pio[0x1..0x2]' });
    const nf = new bus.DeviceNotFoundError('mmio', 0xd000_0000n);
    expect(nf.message).toBe('no mmio device at this address\n\nDetails: space: mmio, addr: 0xd0000000');
    expect(nf).toMatchObject({ space: 'mmio', addr: 0xd000_0000n });
    const foreign = { name: 'Bus.DeviceOverlapError', code: 'DEVICE_OVERLAP', message: 'x' };
    expect(isBusError(foreign, 'Bus.DeviceOverlapError')).toBe(true);
    expect(isBusError({ name: 'Other', code: 'X' })).toBe(false);
    expect(isBusError(new Error('x'))).toBe(false);
    expect(isBusError(null)).toBe(false);
    expect(isBusError(e, 'Bus.DeviceNotFoundError')).toBe(false);
    expect(new BusError('C', 'm', { cause: 1 }).cause).toBe(1);
    expect(new BusError('C', 'm').name).toBe('Bus.Error');
    expect(isBusError({ name: 'BusError' })).toBe(false);
  });
});
