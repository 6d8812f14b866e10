/**
 * @packageDocumentation
 * The shape of the compiled addon (native/*.cc). Internal: the public API wraps every call, checks
 * arguments and turns negative errno returns into {@link SysError}s. Calls that can fail return a
 * negative errno (and record the failing syscall, read back with `lastSyscall()`), never throw.
 */
import { AddonLoadError } from './errors.js';
import loaded from './load-addon.cjs';

/** The native half of an {@link FdWatcher}: one uv_poll_t on Node's loop. */
export interface NativeWatcher {
  /** mode 0: callback(0, uvEvents); mode 1 (eventfd): reads the counter in C, callback(0, count). */
  init(fd: number, mode: number, callback: (status: number, value: number) => void): number;
  start(events: number): number;
  stop(): void;
  close(): void;
  ref(): void;
  unref(): void;
  hasRef(): boolean;
  isActive(): boolean;
  isClosed(): boolean;
}

/** Opaque owner record of one mapping (an External). */
export type NativeMappingHandle = object;

/** The addon's exports. */
export interface NativeBinding {
  errnoName(errno: number): string;
  strerror(errno: number): string;
  lastSyscall(): string;
  close(fd: number): number;
  dup(fd: number): number;
  setNonBlocking(fd: number, on: boolean): number;
  fstatSize(fd: number): number;
  ftruncate(fd: number, size: number): number;
  punchHole(fd: number, offset: number, length: number): number;
  memfdCreate(name: string, allowSealing: boolean, hugetlb: boolean): number;
  addSeals(fd: number, shrink: boolean, grow: boolean, write: boolean, seal: boolean): number;
  mmap(fd: number, length: number, offset: number, shared: boolean): [ArrayBuffer, NativeMappingHandle] | number;
  mmapAnonymous(length: number, hugePages: boolean): [ArrayBuffer, NativeMappingHandle] | number;
  munmap(handle: NativeMappingHandle, buffer: ArrayBuffer): number;
  recoveredFaults(): number;
  eventfd(initval: number, semaphore: boolean): number;
  eventfdRead(fd: number): number;
  eventfdReadBigInt(fd: number): bigint | number;
  eventfdWrite(fd: number, value: number | bigint): number;
  preadv(fd: number, buffers: readonly Uint8Array[], offset: number, nowait: boolean): number;
  timerfdCreate(): number;
  timerfdSet(fd: number, initialNs: number, intervalNs: number): number;
  openPty(raw: boolean): [number, string] | number;
  unixListen(path: string, backlog: number): number;
  adoptListener(fd: number): number;
  unixConnect(path: string): number;
  accept(fd: number): number;
  socketpair(): [number, number] | number;
  sendmsg(fd: number, data: Uint8Array, fds: readonly number[]): number;
  recvmsg(fd: number, data: Uint8Array): [number, number[], boolean] | number;
  peerCred(fd: number): [number, number, number] | number;
  shutdown(fd: number, how: number): number;
  pageSize(): number;
  Watcher: new () => NativeWatcher;
}

/** What load-addon.cjs exports: the addon and the file it came from, or why none loaded. */
export interface AddonLoadResult {
  addon?: NativeBinding;
  file?: string;
  failure?: { platform: string; arch: string; libc: string; tried: { file: string; error: string }[] };
}

const result = loaded as AddonLoadResult;
if (result.addon === undefined) {
  const f = result.failure ?? { platform: process.platform, arch: process.arch, libc: '', tried: [] };
  throw new AddonLoadError(f.platform, f.arch, f.libc, f.tried);
}

/** The loaded addon. */
export const native: NativeBinding = result.addon;
