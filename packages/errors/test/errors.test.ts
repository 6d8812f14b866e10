import { describe, expect, it } from '@jest/globals';
import { VmvError, errorGuard } from '@vmv/errors';

class DemoError extends VmvError {
  override readonly name: string = 'Demo.Error';
}
class BrokenThingError extends DemoError {
  override readonly name = 'Demo.BrokenThingError' as const;
  /** The thing's index. */
  readonly index: number;
  constructor(index: number, cause?: unknown) {
    super('BROKEN_THING', 'Thing is broken', { details: `thing ${index}`, cause });
    this.index = index;
  }
}
const DEMO_ERROR_NAMES = ['Demo.Error', 'Demo.BrokenThingError'] as const;
const isDemoError = errorGuard<DemoError, (typeof DEMO_ERROR_NAMES)[number]>('Demo', DEMO_ERROR_NAMES);

describe('VmvError', () => {
  it('carries code, shortMessage, details and cause, and appends details to the message', () => {
    const inner = new Error('inner');
    const e = new BrokenThingError(3, inner);
    expect(e.name).toBe('Demo.BrokenThingError');
    expect(e.code).toBe('BROKEN_THING');
    expect(e.shortMessage).toBe('Thing is broken');
    expect(e.details).toBe('thing 3');
    expect(e.message).toBe('Thing is broken\n\nDetails: thing 3');
    expect(e.cause).toBe(inner);
    expect(e.index).toBe(3);
    expect(String(e)).toBe('Demo.BrokenThingError: Thing is broken\n\nDetails: thing 3');
  });

  it('has the short message alone without details, and no own cause without one', () => {
    const e = new DemoError('PLAIN', 'Plain failure');
    expect(e.message).toBe('Plain failure');
    expect(e.details).toBeUndefined();
    expect(Object.hasOwn(e, 'cause')).toBe(false);
    expect(new DemoError('PLAIN', 'Plain failure', { details: '' }).message).toBe('Plain failure');
  });

  it('is an Error with a stack', () => {
    const e = new BrokenThingError(1);
    expect(Object.prototype.toString.call(e)).toBe('[object Error]');
    expect(typeof e.stack).toBe('string');
  });
});

describe('errorGuard', () => {
  it('recognises the package errors by name prefix, and one name exactly', () => {
    const e = new BrokenThingError(1);
    expect(isDemoError(e)).toBe(true);
    expect(isDemoError(e, 'Demo.BrokenThingError')).toBe(true);
    expect(isDemoError(e, 'Demo.Error')).toBe(false);
    expect(isDemoError(new DemoError('X', 'x'), 'Demo.Error')).toBe(true);
  });

  it('recognises an error from another copy of the package (a plain object with the name)', () => {
    const foreign = Object.assign(new Error('x'), { name: 'Demo.BrokenThingError', code: 'BROKEN_THING' });
    expect(isDemoError(foreign, 'Demo.BrokenThingError')).toBe(true);
  });

  it('rejects other prefixes, look-alike prefixes, plain errors and non-objects', () => {
    for (const v of [new Error('x'), new TypeError('x'), { name: 'DemoX.Error' }, { name: 'Demo' }, { name: 42 }, 'Demo.Error', null, undefined, 7]) {
      expect(isDemoError(v)).toBe(false);
    }
  });

  it('refuses a bad prefix or a name without the prefix (RangeError)', () => {
    expect(() => errorGuard('Demo.', [])).toThrow(RangeError);
    expect(() => errorGuard('', [])).toThrow(RangeError);
    expect(() => errorGuard('demo', [])).toThrow(RangeError);
    expect(() => errorGuard('Demo', ['Demo.Error', 'Other.Error'])).toThrow(/Other\.Error does not start with Demo\./);
  });
});
