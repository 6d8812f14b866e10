// openPty: a real pty of this kernel. Bytes both ways between master and slave, unchanged in raw
// mode (no echo, no CR/LF mapping, no signal characters), mapped in cooked mode; the master is
// non-blocking and close-on-exec; a master without a slave reads EIO.
import { describe, expect, it } from '@jest/globals';
import { closeSync, constants, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { closeFd, openPty } from '@vmv/sys';

const O_CLOEXEC = 0o2000000;

/** Reads from a non-blocking fd until `n` bytes came (the pty moves them at once: bounded retries). */
function readN(fd: number, n: number): Buffer {
  const out: Buffer[] = [];
  let got = 0;
  for (let tries = 0; got < n && tries < 100_000; tries++) {
    const buf = Buffer.alloc(n - got);
    try {
      const k = readSync(fd, buf);
      out.push(buf.subarray(0, k));
      got += k;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    }
  }
  return Buffer.concat(out);
}

describe('openPty', () => {
  it('a raw pty: bytes both ways unchanged, no echo', () => {
    const pty = openPty();
    expect(pty.path).toMatch(/^\/dev\/pts\/\d+$/);
    const slave = openSync(pty.path, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
    try {
      const down = Buffer.from('a\nb\rc\x03\x04\x1a\x7f\0\xff', 'latin1');
      expect(writeSync(pty.fd, down)).toBe(down.length);
      expect(readN(slave, down.length)).toEqual(down);
      const up = Buffer.from('x\ny\x03\x11\x13', 'latin1');
      expect(writeSync(slave, up)).toBe(up.length);
      expect(readN(pty.fd, up.length)).toEqual(up); // only the slave's bytes: no echo of `down`
      expect(() => readSync(pty.fd, Buffer.alloc(8))).toThrow(expect.objectContaining({ code: 'EAGAIN' })); // non-blocking
    } finally {
      closeSync(slave);
      closeFd(pty.fd);
    }
  });

  it('cooked ({ raw: false }): the line discipline maps LF to CRLF on output', () => {
    const pty = openPty({ raw: false });
    const slave = openSync(pty.path, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
    try {
      writeSync(slave, 'hi\n');
      expect(readN(pty.fd, 4).toString()).toBe('hi\r\n');
    } finally {
      closeSync(slave);
      closeFd(pty.fd);
    }
  });

  it('the master is close-on-exec and non-blocking; without a slave it reads EIO', () => {
    const pty = openPty();
    try {
      const flags = parseInt(/flags:\s+([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${pty.fd}`, 'utf8'))![1]!, 8);
      expect(flags & O_CLOEXEC).toBe(O_CLOEXEC);
      expect(flags & constants.O_NONBLOCK).toBe(constants.O_NONBLOCK);
      const slave = openSync(pty.path, constants.O_RDWR | constants.O_NOCTTY);
      closeSync(slave); // the last slave closed: the master reads EIO
      expect(() => readSync(pty.fd, Buffer.alloc(8))).toThrow(expect.objectContaining({ code: 'EIO' }));
    } finally {
      closeFd(pty.fd);
    }
  });

  it('bad options are a TypeError', () => {
    expect(() => openPty(3 as never)).toThrow(TypeError);
  });
});
