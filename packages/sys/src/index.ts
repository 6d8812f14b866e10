/**
 * @packageDocumentation
 * @vmv/sys: the Linux system calls a user-space virtio backend needs, as a small N-API addon.
 *
 * - {@link memfdCreate}, {@link mmap} / {@link Mapping}: shared memory as ArrayBuffers ({@link mmapAnonymous}:
 *   private memory, optionally on transparent huge pages), unmapped safely
 *   (detach first, then munmap) by `close()` or by a finaliser;
 * - {@link EventFd}, {@link eventfdRead}, {@link eventfdWrite}: notification counters;
 * - {@link UnixListener}, {@link UnixStream}: unix stream sockets passing fds (SCM_RIGHTS);
 * - {@link watchFd}, {@link watchEventFd} / {@link FdWatcher}: readiness on Node's event loop;
 * - {@link openPty}: pseudo-terminals;
 * - {@link closeFd} and friends; {@link SysError} for every failed system call.
 *
 * Linux only. Every fd is a plain number owned by whoever received it.
 */
export { AddonLoadError, SYS_ERROR_NAMES, SysError, isSysError, errnoName } from './errors.js';
export type { SysErrorName, SysErrorOptions } from './errors.js';
export { closeFd, dupFd, setNonBlocking, fdSize, ftruncate, pageSize, punchHole, preadv, PREADV_MAX_BUFFERS } from './fd.js';
export { memfdCreate, memfdAddSeals } from './memfd.js';
export type { MemfdOptions, MemfdSeals } from './memfd.js';
export { Mapping, mmap, mmapAnonymous, MAX_MAPPING_LENGTH, truncatedPageFaults } from './mapping.js';
export type { MmapAnonymousOptions, MmapOptions } from './mapping.js';
export { EventFd, eventfdRead, eventfdWrite, EVENTFD_MAX } from './eventfd.js';
export type { EventFdOptions } from './eventfd.js';
export { TimerFd, TIMERFD_MAX_NS } from './timerfd.js';
export type { TimerFdOptions } from './timerfd.js';
export { FdWatcher, PollEvents, watchFd, watchEventFd } from './watcher.js';
export type { PollEvent, WatchCallback, EventFdCallback, WatchOptions, WatchEventFdOptions } from './watcher.js';
export { openPty } from './pty.js';
export type { OpenPtyOptions, Pty } from './pty.js';
export { UnixListener, UnixStream, MAX_FDS_PER_MESSAGE } from './unix.js';
export type { RecvResult, PeerCredentials, UnixListenOptions } from './unix.js';
