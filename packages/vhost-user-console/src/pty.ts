/**
 * {@link servePty}: a console port on a pseudo-terminal of its own (`--backend pty`): the daemon
 * holds the master, a user opens the slave path (`screen /dev/pts/N`, `picocom`, `cat`).
 * @module
 */
import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';
import type { ConsolePort } from '@vmv/console';
import { PollEvents, closeFd, openPty, watchFd } from '@vmv/sys';

/** Host bytes read from the master at a time. */
const READ_SIZE = 64 * 1024;
/** Reads per readiness callback, so that a fast writer cannot hold the event loop. */
const READS_PER_TURN = 16;

/**
 * A port served on a pty.
 * @example `const p = servePty(device.port(0)); console.log(p.path); p.close();`
 */
export interface PtyEndpoint {
  /** The slave's path, e.g. `/dev/pts/3`. */
  readonly path: string;
  /** Disconnects the port and closes the pty. */
  close(): void;
}

/**
 * Opens a raw pty and connects `port` to its master. The daemon keeps a slave fd of its own open
 * (O_NOCTTY, never read), so the pty never hangs up: while no user has the slave open, a read of
 * the master would fail with EIO and poll would report a hang-up at every turn. With it, host
 * bytes simply wait for a user, and guest bytes wait in the terminal's buffer for the next one
 * to open the slave (once it is full the guest's writes wait: back-pressure). Both directions are
 * watched on the event loop, never polled in a loop: the master is read while the port takes
 * bytes (`ConsolePort.write` true, or its `drain`), and written while guest bytes wait for room.
 * @param port - the port's host end.
 * @returns the pty's slave path, and how to close it.
 * @throws Sys.Error from openPty (out of ptys: ENOSPC...) or the slave's open.
 * @example `const { path } = servePty(device.port(0));`
 */
export function servePty(port: ConsolePort): PtyEndpoint {
  const pty = openPty({ raw: true });
  let hold: number;
  try {
    hold = openSync(pty.path, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
  } catch (error) {
    closeFd(pty.fd);
    throw error;
  }
  const fd = pty.fd;
  let reading = true;
  let closed = false;
  /** Guest bytes waiting for room in the pty, and the port's `done` for them. */
  let out: { data: Uint8Array; at: number; done: () => void } | null = null;
  const watcher = watchFd(fd, (error, events) => {
    if (closed) return;
    if (error !== null) return;
    if ((events & PollEvents.WRITABLE) !== 0) flush();
    if ((events & PollEvents.READABLE) !== 0) read();
    update();
  });

  function update(): void {
    if (closed) return;
    const events = (reading ? PollEvents.READABLE : 0) | (out !== null ? PollEvents.WRITABLE : 0);
    if (events === 0) watcher.stop();
    else watcher.start(events);
  }

  function read(): void {
    for (let i = 0; i < READS_PER_TURN && reading; i++) {
      const buf = new Uint8Array(READ_SIZE);
      let n: number;
      try {
        n = readSync(fd, buf);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return;
        throw error;
      }
      if (n === 0) return;
      if (!port.write(buf.subarray(0, n))) reading = false;
    }
  }

  function flush(): void {
    while (out !== null) {
      let n: number;
      try {
        n = writeSync(fd, out.data, out.at, out.data.length - out.at);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return;
        throw error;
      }
      out.at += n;
      if (out.at < out.data.length) continue;
      const { done } = out;
      out = null;
      done();
    }
  }

  port.connect({
    write: (data, done) => {
      if (closed) return done();
      out = { data, at: 0, done };
      flush();
      update();
    },
    drain: () => {
      reading = true;
      update();
    },
  });
  return {
    path: pty.path,
    close() {
      if (closed) return;
      closed = true;
      port.disconnect();
      const pending = out;
      out = null;
      watcher.close();
      closeFd(fd);
      closeSync(hold);
      pending?.done();
    },
  };
}
