import { describe, expect, it } from '@jest/globals';
import {
  AddressOverflowError,
  GUEST_MEMORY_ERROR_NAMES,
  GuestMemoryError,
  InvalidLayoutError,
  isGuestMemoryError,
  MisalignedError,
  NotContiguousError,
  OutOfBoundsError,
  ReadOnlyError,
  ValueTooLargeError,
  DetachedError,
} from '@vmv/memory';

describe('errors', () => {
  it('have stable names and codes, the shared shape, and the failed access as typed fields', () => {
    const cases = [
      [OutOfBoundsError, 'GuestMemory.OutOfBoundsError', 'OUT_OF_BOUNDS'],
      [AddressOverflowError, 'GuestMemory.AddressOverflowError', 'ADDRESS_OVERFLOW'],
      [ReadOnlyError, 'GuestMemory.ReadOnlyError', 'READ_ONLY'],
      [MisalignedError, 'GuestMemory.MisalignedError', 'MISALIGNED'],
      [NotContiguousError, 'GuestMemory.NotContiguousError', 'NOT_CONTIGUOUS'],
      [InvalidLayoutError, 'GuestMemory.InvalidLayoutError', 'INVALID_LAYOUT'],
      [ValueTooLargeError, 'GuestMemory.ValueTooLargeError', 'VALUE_TOO_LARGE'],
      [DetachedError, 'GuestMemory.DetachedError', 'DETACHED'],
    ] as const;
    for (const [Cls, name, code] of cases) {
      const e = new Cls('boom', { address: 1n, length: 4, badAddress: 3n, operation: 'readU32', regionIndex: 0 });
      expect(e.name).toBe(name);
      expect(e.code).toBe(code);
      expect(e.shortMessage).toBe('boom');
      expect(e.message).toBe('boom');
      expect(e.details).toBeUndefined();
      expect([e.address, e.length, e.badAddress, e.operation, e.regionIndex]).toEqual([1n, 4, 3n, 'readU32', 0]);
      expect(isGuestMemoryError(e)).toBe(true);
      expect(isGuestMemoryError(e, name)).toBe(true);
      expect(GUEST_MEMORY_ERROR_NAMES).toContain(name);
    }
    expect(GUEST_MEMORY_ERROR_NAMES.length).toBe(cases.length + 1);
  });

  it('the base class is GuestMemory.Error and carries details and a cause', () => {
    const cause = new Error('inner');
    const e = new GuestMemoryError('X', 'outer', { details: 'why', cause });
    expect(e.cause).toBe(cause);
    expect(e.name).toBe('GuestMemory.Error');
    expect(e.message).toBe('outer\n\nDetails: why');
    expect(e.address).toBeUndefined();
    expect(isGuestMemoryError(e)).toBe(true);
    expect(isGuestMemoryError(e, 'GuestMemory.Error')).toBe(true);
    expect(isGuestMemoryError(e, 'GuestMemory.OutOfBoundsError')).toBe(false);
    expect(new GuestMemoryError('X', 'x').cause).toBeUndefined();
  });

  it('the guard works by name (another copy of the package) and rejects the rest', () => {
    expect(isGuestMemoryError({ name: 'GuestMemory.ReadOnlyError' }, 'GuestMemory.ReadOnlyError')).toBe(true);
    expect(isGuestMemoryError({ name: 'GuestMemory.ReadOnlyError' })).toBe(true);
    expect(isGuestMemoryError({ name: 'GuestMemoryError' })).toBe(false);
    expect(isGuestMemoryError({ name: 'Other' })).toBe(false);
    expect(isGuestMemoryError({ name: 5 })).toBe(false);
    expect(isGuestMemoryError(null)).toBe(false);
    expect(isGuestMemoryError('GuestMemory.ReadOnlyError')).toBe(false);
    expect(isGuestMemoryError(new RangeError('x'))).toBe(false);
  });
});
