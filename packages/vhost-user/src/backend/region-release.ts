/**
 * When memory regions a frontend took out of the table (SET_MEM_TABLE, REM_MEM_REG) are
 * unmapped: only once the device holds no chain that may point into them, and guest memory as a
 * whole only once the device's I/O from before its last reset has drained. Memory never
 * disappears under a live device session: unmapping it under a device that still uses it would
 * turn its completion into an exception. vhost-user.rst "Memory region description".
 *
 * @module
 */

import type { MappedRegion, RegionTable } from './region-table.js';
import type { ConnectionEvent } from './connection.js';

/** How often a held region checks whether the device has let go of it (ms). */
const GRAVEYARD_CHECK_MS = 5;

/**
 * The regions of one connection waiting to be unmapped. Not exported from the package.
 * @internal
 */
export class RegionRelease {
  /**
   * Regions out of the table that chains still held by the device may point into: kept mapped
   * until the device returns them or is reset (or the connection ends).
   */
  private graveyard: MappedRegion[] = [];
  private graveyardTimer: ReturnType<typeof setTimeout> | null = null;

  /**
   * @param table - the connection's region table (which unmaps)
   * @param drain - settles when the device's I/O from before its last reset has finished (`DeviceSession.drain`; never rejects)
   * @param drainTimeoutMs - how long to wait for the device
   * @param emit - reports `memory-held`
   * @param deviceIdle - whether the device holds no chain (none outstanding, none orphaned)
   */
  constructor(
    private readonly table: RegionTable,
    private readonly drain: () => Promise<void>,
    private readonly drainTimeoutMs: number,
    private readonly emit: (event: ConnectionEvent) => void,
    private readonly deviceIdle: () => boolean,
  ) {}

  /**
   * Unmaps regions taken out of the table once the device holds no chain (chains in flight may
   * point into them). The reply waits for that, up to the drain timeout, so the frontend normally
   * learns the region is unmapped only when it is. Past the timeout the reply goes out and the
   * regions stay mapped until the device returns its chains or is reset.
   * @param removed - regions the table no longer holds
   * @returns a promise the reply waits for, or undefined when they were released at once
   */
  releaseWhenIdle(removed: readonly MappedRegion[]): Promise<void> | undefined {
    if (removed.length === 0) return undefined;
    if (this.deviceIdle()) {
      this.table.release(removed);
      return undefined;
    }
    const deadline = Date.now() + this.drainTimeoutMs;
    return new Promise<void>((resolve) => {
      const check = (): void => {
        if (this.deviceIdle()) {
          this.table.release(removed);
          resolve();
        } else if (Date.now() >= deadline) {
          this.bury(removed);
          resolve();
        } else {
          setTimeout(check, 1);
        }
      };
      setTimeout(check, 1);
    });
  }

  /**
   * The device was reset: it holds no chain (VirtioDevice contract), so held regions are
   * unmapped once its I/O from before the reset has drained.
   */
  deviceReset(): void {
    this.stopWatching();
    const removed = this.graveyard;
    this.graveyard = [];
    if (removed.length > 0) this.afterDeviceDrain(() => this.table.release(removed));
  }

  /** Unmaps every held region now (the connection ends). */
  releaseGraveyard(): void {
    this.stopWatching();
    const regions = this.graveyard;
    this.graveyard = [];
    this.table.release(regions);
  }

  /**
   * Runs `release` once the device's I/O from before its last reset has finished
   * (`VirtioDevice.drain()`, through the session), or after the drain timeout if it never
   * settles. A release never throws out of here.
   * @param release - what to unmap
   */
  afterDeviceDrain(release: () => void): void {
    const run = (): void => {
      try {
        release();
      } catch {
        // unmapping failed: nothing more can be done for these regions
      }
    };
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      run();
    };
    const timer = setTimeout(finish, this.drainTimeoutMs);
    timer.unref?.();
    this.drain().then(finish, finish);
  }

  /** Keeps regions mapped until the device is idle or reset (see {@link RegionRelease.graveyard}). */
  private bury(regions: readonly MappedRegion[]): void {
    this.graveyard.push(...regions);
    this.emit({ type: 'memory-held', regions: this.graveyard.length });
    this.watchGraveyard();
  }

  private watchGraveyard(): void {
    if (this.graveyardTimer !== null || this.graveyard.length === 0) return;
    this.graveyardTimer = setTimeout(() => {
      this.graveyardTimer = null;
      if (this.deviceIdle()) this.releaseGraveyard();
      else this.watchGraveyard();
    }, GRAVEYARD_CHECK_MS);
  }

  private stopWatching(): void {
    if (this.graveyardTimer !== null) {
      clearTimeout(this.graveyardTimer);
      this.graveyardTimer = null;
    }
  }
}
