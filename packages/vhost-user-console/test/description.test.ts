/**
 * The vhost-user.json description file shipped with the package (QEMU docs/interop/vhost-user.rst,
 * "Backend program conventions"; schema docs/interop/vhost-user.json): its fields, its type
 * against the daemon's, its binary against the package's bin.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { basename, isAbsolute, join } from 'node:path';
import { consoleDaemon } from '@vmv/vhost-user-console';

const PACKAGE_DIR = join(__dirname, '..');
const FILE = join('vhost-user', '50-vmv-vhost-user-console.json');

describe('vhost-user.json description', () => {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')) as { bin: Record<string, string>; files: string[] };
  const desc = JSON.parse(readFileSync(join(PACKAGE_DIR, FILE), 'utf8')) as Record<string, unknown>;

  it('has exactly the schema fields: description, type, binary (strings)', () => {
    expect(Object.keys(desc).sort()).toEqual(['binary', 'description', 'type']);
    for (const k of ['binary', 'description', 'type']) expect(typeof desc[k]).toBe('string');
  });

  it("names the daemon's device type and the package's binary by an absolute path", () => {
    expect(desc['type']).toBe(consoleDaemon.deviceType);
    expect(isAbsolute(desc['binary'] as string)).toBe(true);
    expect(Object.keys(pkg.bin)).toEqual([basename(desc['binary'] as string)]);
    expect(consoleDaemon.program).toBe(basename(desc['binary'] as string));
  });

  it('is shipped (package.json files) under the 50-<name>.json name QEMU looks up', () => {
    expect(pkg.files).toContain('vhost-user');
    expect(basename(FILE)).toBe(`50-${consoleDaemon.program}.json`);
  });
});
