/**
 * The one error shape, checked on every published package as its users load it (the built
 * entry points): each package's errors derive from `@vmv/errors`'s `VmvError` through one package
 * base named `'<Pkg>.Error'`; every exported error class has a name `'<Pkg>.<Something>Error'`
 * with the package's one prefix (a subclass: `'<Pkg>.'` plus its class name), an UPPER_SNAKE
 * `code`, and the shared message format; `<PKG>_ERROR_NAMES` lists exactly those names; the
 * guard `is<Pkg>Error(e, name?)` recognises each of them by name (also as a plain object from
 * another copy of the package) and rejects other packages' errors and plain Errors.
 * See packages/errors/README.md for the convention.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { VmvError } from '@vmv/errors';

const root = join(__dirname, '..', '..', '..');
const load = createRequire(__filename);

/** Each package's one prefix and the exports that carry its convention. */
const CONVENTION: Record<string, { prefix: string; base: string; names: string; guard: string }> = {
  '@vmv/memory': { prefix: 'GuestMemory', base: 'GuestMemoryError', names: 'GUEST_MEMORY_ERROR_NAMES', guard: 'isGuestMemoryError' },
  '@vmv/queue': { prefix: 'Queue', base: 'QueueError', names: 'QUEUE_ERROR_NAMES', guard: 'isQueueError' },
  '@vmv/device-trait': { prefix: 'Device', base: 'DeviceError', names: 'DEVICE_ERROR_NAMES', guard: 'isDeviceError' },
  '@vmv/bus': { prefix: 'Bus', base: 'BusError', names: 'BUS_ERROR_NAMES', guard: 'isBusError' },
  '@vmv/input': { prefix: 'Input', base: 'InputError', names: 'INPUT_ERROR_NAMES', guard: 'isInputError' },
  '@vmv/block': { prefix: 'Block', base: 'BlockError', names: 'BLOCK_ERROR_NAMES', guard: 'isBlockError' },
  '@vmv/rng': { prefix: 'Rng', base: 'RngError', names: 'RNG_ERROR_NAMES', guard: 'isRngError' },
  '@vmv/sound': { prefix: 'Sound', base: 'SoundError', names: 'SOUND_ERROR_NAMES', guard: 'isSoundError' },
  '@vmv/transport-mmio': { prefix: 'TransportMmio', base: 'TransportMmioError', names: 'TRANSPORT_MMIO_ERROR_NAMES', guard: 'isTransportMmioError' },
  '@vmv/transport-pci': { prefix: 'TransportPci', base: 'TransportPciError', names: 'TRANSPORT_PCI_ERROR_NAMES', guard: 'isTransportPciError' },
  '@vmv/sys': { prefix: 'Sys', base: 'SysError', names: 'SYS_ERROR_NAMES', guard: 'isSysError' },
  '@vmv/vhost-user': { prefix: 'VhostUser', base: 'VhostUserError', names: 'VHOST_USER_ERROR_NAMES', guard: 'isVhostUserError' },
  '@vmv/vhost-user-blk': { prefix: 'VhostUserBlk', base: 'VhostUserBlkError', names: 'VHOST_USER_BLK_ERROR_NAMES', guard: 'isVhostUserBlkError' },
  '@vmv/vfio-user': { prefix: 'VfioUser', base: 'VfioUserError', names: 'VFIO_USER_ERROR_NAMES', guard: 'isVfioUserError' },
};

interface Pkg {
  name: string;
  private?: boolean;
  exports?: Record<string, unknown>;
}
const published: Pkg[] = readdirSync(join(root, 'packages'))
  .filter((d) => existsSync(join(root, 'packages', d, 'package.json')))
  .map((d) => JSON.parse(readFileSync(join(root, 'packages', d, 'package.json'), 'utf8')) as Pkg)
  .filter((p) => !p.private && p.name !== '@vmv/errors');

/** Public entry points of a package: export keys that map to files. */
function entries(p: Pkg): string[] {
  return Object.entries(p.exports ?? {})
    .filter(([k, v]) => v !== null && !k.includes('*') && k !== './package.json')
    .map(([k]) => p.name + k.slice(1));
}

type Ctor = abstract new (...args: never[]) => object;
const isClass = (v: unknown): v is Ctor => typeof v === 'function' && /^class\b/.test(Function.prototype.toString.call(v));
const reachesError = (c: Ctor): boolean => c.prototype instanceof Error;

/** Every error class exported by any entry point of `p`, by export name. */
function errorClasses(p: Pkg): Map<string, Ctor> {
  const found = new Map<string, Ctor>();
  for (const spec of entries(p)) {
    const mod = load(spec) as Record<string, unknown>;
    for (const [k, v] of Object.entries(mod)) if (isClass(v) && reachesError(v)) found.set(k, v);
  }
  return found;
}

/**
 * An instance of an error class, through its own constructor. Constructors take package-specific
 * arguments (a message, a range, an errno), so try argument lists a generic caller can supply:
 * strings everywhere, then a number first (an errno, an index), then numbers everywhere.
 */
function construct(c: Ctor): Error {
  const attempts: unknown[][] = [
    ['X', 'x', 'x', 'x'],
    [1, 'x', 'x', 'x'],
    [1, 1, 1, 1],
  ];
  const failures: string[] = [];
  for (const args of attempts) {
    try {
      return Reflect.construct(c, args) as Error;
    } catch (e) {
      failures.push(String(e));
    }
  }
  throw new Error(`cannot construct ${c.name} generically: ${failures.join('; ')}`);
}

/** A guard's own errors are theirs; everyone else's (and plain errors) are not. */
const foreignErrors = (prefix: string): unknown[] => [
  new Error('plain'),
  new TypeError('misuse'),
  new RangeError('misuse'),
  Object.assign(new Error('look-alike'), { name: `${prefix}Error`, code: 'X' }),
  Object.assign(new Error('look-alike'), { name: `${prefix}X.Error`, code: 'X' }),
  { name: prefix },
  null,
  `${prefix}.Error`,
];

describe('the shared base', () => {
  it('every published package (but @vmv/errors) with error classes follows a convention listed here', () => {
    const withErrors = published.filter((p) => errorClasses(p).size > 0).map((p) => p.name);
    expect(withErrors.sort()).toEqual(Object.keys(CONVENTION).sort());
  });

  it('prefixes are unique', () => {
    const prefixes = Object.values(CONVENTION).map((c) => c.prefix);
    expect(new Set(prefixes).size).toBe(prefixes.length);
  });
});

describe.each(Object.entries(CONVENTION))('%s', (pkgName, c) => {
  const pkg = published.find((p) => p.name === pkgName)!;
  const main = load(pkgName) as Record<string, unknown>;
  const classes = errorClasses(pkg);
  const names = main[c.names] as readonly string[];
  const guard = main[c.guard] as (e: unknown, name?: string) => boolean;
  const base = main[c.base] as Ctor;

  it(`exports its base ${c.base}, ${c.names} and ${c.guard} from its main entry`, () => {
    expect(isClass(base)).toBe(true);
    expect(Array.isArray(names)).toBe(true);
    expect(typeof guard).toBe('function');
  });

  it(`${c.base} extends VmvError directly and is named '${c.prefix}.Error'`, () => {
    expect(Object.getPrototypeOf(base)).toBe(VmvError);
    expect(classes.get(c.base)).toBe(base);
  });

  it(`every exported error class extends ${c.base} and is named '${c.prefix}.' + its class name`, () => {
    const problems: string[] = [];
    for (const [exportName, cls] of classes) {
      if (!(cls === base || cls.prototype instanceof base)) problems.push(`${exportName} does not extend ${c.base}`);
      const e = construct(cls);
      const expected = cls === base ? `${c.prefix}.Error` : `${c.prefix}.${exportName}`;
      if (e.name !== expected) problems.push(`${exportName} is named ${e.name}, expected ${expected}`);
      if (!/^[A-Z][A-Za-z0-9]*\.(?:[A-Z][A-Za-z0-9]*)?Error$/.test(e.name)) problems.push(`${exportName}: ${e.name} is not '<Pkg>.<Something>Error'`);
    }
    expect(problems).toEqual([]);
  });

  it('every error has an UPPER_SNAKE code, a short message and the shared message format', () => {
    for (const cls of classes.values()) {
      const e = construct(cls) as VmvError;
      expect({ name: e.name, code: /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/.test(e.code) }).toEqual({ name: e.name, code: true });
      expect(typeof e.shortMessage).toBe('string');
      expect(e.details === undefined || typeof e.details === 'string').toBe(true);
      expect(e.message).toBe(e.details === undefined ? e.shortMessage : `${e.shortMessage}\n\nDetails: ${e.details}`);
    }
  });

  it(`${c.names} lists exactly the names of the exported error classes`, () => {
    const classNames = [...classes.values()].map((cls) => construct(cls).name);
    expect([...names].sort()).toEqual([...new Set(classNames)].sort());
  });

  it(`${c.guard} recognises every listed name, also on a plain object from another copy of the package`, () => {
    for (const cls of classes.values()) {
      const e = construct(cls);
      expect({ name: e.name, any: guard(e), exact: guard(e, e.name) }).toEqual({ name: e.name, any: true, exact: true });
    }
    for (const n of names) {
      const copy = Object.assign(new Error('from another copy'), { name: n, code: 'X' });
      expect({ n, ok: guard(copy, n) && guard(copy) }).toEqual({ n, ok: true });
    }
  });

  it(`${c.guard} rejects other packages' errors, look-alike names and plain Errors`, () => {
    for (const v of foreignErrors(c.prefix)) expect(guard(v)).toBe(false);
    for (const [other, o] of Object.entries(CONVENTION)) {
      if (other === pkgName) continue;
      const otherNames = (load(other) as Record<string, unknown>)[o.names] as readonly string[];
      for (const n of otherNames) expect({ n, ours: guard(Object.assign(new Error('x'), { name: n })) }).toEqual({ n, ours: false });
    }
  });
});
