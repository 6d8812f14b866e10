/**
 * What the device daemons' in-process tests share: the releases a test registers (run last first
 * after each test), a daemon's `runCli` run in process with its log collected and its SIGTERM
 * handler kept for `stop()`, a bounded wait, and the negotiation QEMU's vhost-user device
 * frontends open with (vhost-user.rst, "Starting the device").
 */
import { afterEach } from '@jest/globals';
import type { DaemonIo } from '@vmv/vhost-user/daemon';
import type { VhostUserFrontend } from '@vmv/vhost-user/frontend';
import { protocolFeatureMask, type ProtocolFeatureBit } from '@vmv/vhost-user/protocol';
import { HANG_MS } from '../frontend';

/** VIRTIO_F_VERSION_1. */
export const VERSION_1 = 1n << 32n;
/** VHOST_USER_F_PROTOCOL_FEATURES. */
export const PROTOCOL_FEATURES = 1n << 30n;
/** VIRTIO_F_EVENT_IDX. */
export const EVENT_IDX = 1n << 29n;
/** VIRTIO_F_INDIRECT_DESC. */
export const INDIRECT_DESC = 1n << 28n;

/**
 * Registers an afterEach that runs the releases pushed during a test, last first, each one even
 * when another threw (a release of something already gone throws). Returns the push.
 */
export function releasesAfterEach(): (...releases: (() => void)[]) => void {
  const pending: (() => void)[] = [];
  afterEach(() => {
    while (pending.length > 0) {
      try {
        pending.pop()!();
      } catch {
        // already released
      }
    }
  });
  return (...releases) => void pending.push(...releases);
}

/** Polls `cond` until it holds; throws naming `what` (and the log, if given) after {@link HANG_MS}. */
export async function waitUntil(cond: () => boolean, what: string, log?: () => string): Promise<void> {
  const deadline = Date.now() + HANG_MS;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${log === undefined ? '' : `:\n${log()}`}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A daemon's `runCli` running in this process. */
export interface InProcessDaemon {
  /** Resolves with the exit status. */
  readonly code: Promise<number>;
  /** Sends it SIGTERM (the handlers it registered). */
  stop(): void;
  /** Its log so far. */
  log(): string;
}

/** Runs `runCli(argv)` in process: its log collected, SIGTERM kept for `stop()`, exit ignored. */
export function runInProcess(runCli: (argv: readonly string[], io: DaemonIo) => Promise<number>, argv: readonly string[]): InProcessDaemon {
  let log = '';
  const stops: (() => void)[] = [];
  const io: DaemonIo = {
    out: () => undefined,
    err: (t) => void (log += t),
    onSignal: (s, h) => void (s === 'SIGTERM' && stops.push(h)),
    offSignal: () => undefined,
    exit: () => undefined,
  };
  return { code: runCli(argv, io), stop: () => stops.forEach((h) => h()), log: () => log };
}

/**
 * Opens a session as QEMU's vhost-user device frontends do: GET_FEATURES, SET_OWNER, the protocol
 * features offered within `protocol`, GET_QUEUE_NUM, SET_FEATURES with what is offered within
 * `accept`. The caller goes on with SET_MEM_TABLE and the rings.
 * @returns the features offered and the queue count
 */
export async function negotiate(fe: VhostUserFrontend, protocol: readonly ProtocolFeatureBit[], accept: bigint): Promise<{ offered: bigint; queues: number }> {
  const offered = await fe.getFeatures();
  await fe.setOwner();
  await fe.setProtocolFeatures((await fe.getProtocolFeatures()) & protocolFeatureMask(protocol));
  const queues = await fe.getQueueNum();
  await fe.setFeatures(offered & accept);
  return { offered, queues };
}
