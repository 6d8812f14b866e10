/**
 * Shared fixtures of the backend test files: resources released after each test, and a backend
 * listening on a fresh socket path with its events recorded.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VirtioDevice } from '@vmv/device-trait';
import { VhostUserBackend, type VhostUserBackendEvent } from '@vmv/vhost-user';
import { UpperDevice } from './devices';

const cleanups: (() => void)[] = [];
let counter = 0;

/** Closes `x` after the test (see {@link releaseTracked}). */
export function track<T extends { close(): void }>(x: T): T {
  cleanups.push(() => x.close());
  return x;
}

/** Releases what {@link track} collected, newest first; a resource the test already closed is skipped. For afterEach. */
export function releaseTracked(): void {
  while (cleanups.length > 0) {
    try {
      cleanups.pop()!();
    } catch {
      // already released by the test
    }
  }
}

/** A tracked backend listening on a fresh socket (`tag` names it); `failures()` lists the error names of failed requests. */
export function startBackend<D extends VirtioDevice = UpperDevice>(tag: string, device: D = new UpperDevice() as unknown as D, options: ConstructorParameters<typeof VhostUserBackend>[1] = {}) {
  const events: VhostUserBackendEvent[] = [];
  const backend = track(new VhostUserBackend(device, { ...options, onEvent: (e) => events.push(e) }));
  const path = join(tmpdir(), `vmv-vu-${tag}-${process.pid}-${counter++}.sock`);
  backend.listen(path, { removeStale: true }); // a socket file left by a killed run of an earlier process with this pid
  const failures = (): string[] =>
    events.flatMap((e) => (e.type === 'request-failed' ? [String((e.error as { name?: unknown }).name)] : []));
  return { backend, device, events, path, failures };
}
