import { describe, expect, it } from '@jest/globals';
import {
  AddressOverflowError,
  GUEST_MEMORY_ERROR_NAMES,
  GuestMemory,
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
  it('have stable names and codes, and are reachable from GuestMemory', () => {
    const cases = [
      [OutOfBoundsError, GuestMemory.OutOfBoundsError, 'GuestMemory.OutOfBoundsError', 'OUT_OF_BOUNDS'],
      [AddressOverflowError, GuestMemory.AddressOverflowError, 'GuestMemory.AddressOverflowError', 'ADDRESS_OVERFLOW'],
      [ReadOnlyError, GuestMemory.ReadOnlyError, 'GuestMemory.ReadOnlyError', 'READ_ONLY'],
      [MisalignedError, GuestMemory.MisalignedError, 'GuestMemory.MisalignedError', 'MISALIGNED'],
      [NotContiguousError, GuestMemory.NotContiguousError, 'GuestMemory.NotContiguousError', 'NOT_CONTIGUOUS'],
      [InvalidLayoutError, GuestMemory.InvalidLayoutError, 'GuestMemory.InvalidLayoutError', 'INVALID_LAYOUT'],
      [ValueTooLargeError, GuestMemory.ValueTooLargeError, 'GuestMemory.ValueTooLargeError', 'VALUE_TOO_LARGE'],
      [DetachedError, GuestMemory.DetachedError, 'GuestMemory.DetachedError', 'DETACHED'],
    ] as const;
    for (const [Cls, Static, name, code] of cases) {
      expect(Static).toBe(Cls);
      const e = new Cls('boom', { address: 1n });
      expect(e).toBeInstanceOf(GuestMemoryError);
      expect(e).toBeInstanceOf(Error);
      expect(e.name).toBe(name);
      expect(e.code).toBe(code);
      expect(e.shortMessage).toBe('boom');
      expect(e.details).toEqual({ address: 1n });
      expect(isGuestMemoryError(e)).toBe(true);
      expect(isGuestMemoryError(e, name)).toBe(true);
      expect(GUEST_MEMORY_ERROR_NAMES).toContain(name);
    }
    expect(GUEST_MEMORY_ERROR_NAMES.length).toBe(cases.length);
  });

  it('the base class carries a cause', () => {
    const cause = new Error('inner');
    const e = new GuestMemoryError('outer', { code: 'X', cause });
    expect(e.cause).toBe(cause);
    expect(e.name).toBe('GuestMemoryError');
    expect(isGuestMemoryError(e)).toBe(true);
    expect(isGuestMemoryError(e, 'GuestMemory.OutOfBoundsError')).toBe(false);
    expect(new GuestMemoryError('x', { code: 'X' }).cause).toBeUndefined();
  });

  it('the guard works by name (another copy of the package) and rejects the rest', () => {
    expect(isGuestMemoryError({ name: 'GuestMemory.ReadOnlyError' }, 'GuestMemory.ReadOnlyError')).toBe(true);
    expect(isGuestMemoryError({ name: 'GuestMemory.ReadOnlyError' })).toBe(true);
    expect(isGuestMemoryError({ name: 'Other' })).toBe(false);
    expect(isGuestMemoryError({ name: 5 })).toBe(false);
    expect(isGuestMemoryError(null)).toBe(false);
    expect(isGuestMemoryError('GuestMemory.ReadOnlyError')).toBe(false);
    expect(isGuestMemoryError(new RangeError('x'))).toBe(false);
  });
});
