import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readlinkSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeFd, dupFd, EventFd, isSysError, MAX_FDS_PER_MESSAGE, memfdCreate, mmap, UnixListener, UnixStream } from '@vmv/sys';
import { closeAll, track } from './helpers';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmv-sys-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
afterEach(closeAll);

function expectSysError(fn: () => unknown, code: string, syscall?: string): void {
  try {
    fn();
  } catch (e) {
    expect(isSysError(e, code)).toBe(true);
    if (syscall !== undefined) expect((e as { syscall: string }).syscall).toBe(syscall);
    return;
  }
  throw new Error(`expected SysError ${code}`);
}

describe('UnixStream.pair', () => {
  it('sends bytes and fds; the receiver gets its own working fds', () => {
    const [a, b] = UnixStream.pair().map(track) as [UnixStream, UnixStream];
    const memfd = memfdCreate('vmv-pass', 4096);
    const ev = track(new EventFd());
    const m = mmap(memfd, 4096);
    Buffer.from(m.buffer).write('shared-bytes');
    expect(a.sendmsg(new Uint8Array([9, 8, 7]), [memfd, ev.fd])).toBe(3);
    const buf = new Uint8Array(16);
    const got = b.recvmsg(buf)!;
    expect(got.bytesRead).toBe(3);
    expect([...buf.subarray(0, 3)]).toEqual([9, 8, 7]);
    expect(got.fds).toHaveLength(2);
    expect(got.fdsTruncated).toBe(false);
    const [rm, re] = got.fds as [number, number];
    expect(rm).not.toBe(memfd);
    expect(readlinkSync(`/proc/self/fd/${rm}`)).toMatch(/^\/memfd:vmv-pass/);
    const m2 = mmap(rm, 4096);
    expect(Buffer.from(m2.buffer, 0, 12).toString()).toBe('shared-bytes');
    const theirs = EventFd.from(re);
    theirs.write(5);
    expect(ev.read()).toBe(5);
    for (const x of [m, m2]) x.close();
    for (const x of [theirs, ev, a, b]) x.close();
    closeFd(memfd);
    closeFd(rm);
  });

  it('keeps message boundaries of fds on a stream: fds come with the first bytes', () => {
    const [a, b] = UnixStream.pair().map(track) as [UnixStream, UnixStream];
    const ev = track(new EventFd());
    const msg = new Uint8Array(12 + 8).fill(1);
    a.sendmsg(msg, [ev.fd]);
    a.sendmsg(new Uint8Array([2, 2]));
    const header = new Uint8Array(12);
    const first = b.recvmsg(header)!;
    expect(first.bytesRead).toBe(12);
    expect(first.fds).toHaveLength(1);
    const rest = b.recvmsg(new Uint8Array(64))!;
    expect(rest.fds).toHaveLength(0);
    expect(rest.bytesRead).toBe(8 + 2);
    closeFd(first.fds[0]!);
    ev.close();
    a.close();
    b.close();
  });

  it('returns null when nothing is there, 0 bytes at end of file, EPIPE after', () => {
    const [a, b] = UnixStream.pair().map(track) as [UnixStream, UnixStream];
    expect(b.recvmsg(new Uint8Array(4))).toBeNull();
    a.sendmsg(new Uint8Array([1]));
    a.shutdown('write');
    expect(b.recvmsg(new Uint8Array(4))!.bytesRead).toBe(1);
    expect(b.recvmsg(new Uint8Array(4))!.bytesRead).toBe(0);
    b.close();
    expectSysError(() => a.sendmsg(new Uint8Array([1])), 'EPIPE', 'sendmsg');
    a.close();
  });

  it('reports EAGAIN when the socket buffer is full, and partial sends', () => {
    const [a, b] = UnixStream.pair().map(track) as [UnixStream, UnixStream];
    const chunk = new Uint8Array(1 << 16);
    let total = 0;
    let sawPartialOrFull = false;
    for (let i = 0; i < 1000; i++) {
      try {
        const n = a.sendmsg(chunk);
        total += n;
        if (n < chunk.length) sawPartialOrFull = true;
      } catch (e) {
        expect(isSysError(e, 'EAGAIN')).toBe(true);
        sawPartialOrFull = true;
        break;
      }
    }
    expect(sawPartialOrFull).toBe(true);
    let drained = 0;
    for (let r = b.recvmsg(chunk); r !== null; r = b.recvmsg(chunk)) drained += r.bytesRead;
    expect(drained).toBe(total);
    a.close();
    b.close();
  });

  it('passes the maximum number of fds', () => {
    const [a, b] = UnixStream.pair().map(track) as [UnixStream, UnixStream];
    const fds = new Array<number>(MAX_FDS_PER_MESSAGE).fill(a.fd);
    a.sendmsg(new Uint8Array([0]), fds);
    const got = b.recvmsg(new Uint8Array(1))!;
    expect(got.fds).toHaveLength(MAX_FDS_PER_MESSAGE);
    expect(new Set(got.fds).size).toBe(MAX_FDS_PER_MESSAGE);
    for (const fd of got.fds) closeFd(fd);
    a.close();
    b.close();
  });

  it('rejects misuse and reports closed streams as EBADF', () => {
    const [a, b] = UnixStream.pair().map(track) as [UnixStream, UnixStream];
    expect(() => a.sendmsg([1] as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => a.sendmsg(new Uint8Array(0), [b.fd])).toThrow(RangeError);
    expect(() => a.sendmsg(new Uint8Array(1), new Array<number>(MAX_FDS_PER_MESSAGE + 1).fill(0))).toThrow(RangeError);
    expect(() => a.sendmsg(new Uint8Array(1), [-1])).toThrow(RangeError);
    expect(() => a.sendmsg(new Uint8Array(1), 3 as unknown as number[])).toThrow(TypeError);
    expect(() => a.recvmsg(new Uint8Array(0))).toThrow(RangeError);
    expect(() => a.shutdown('sideways' as 'both')).toThrow(RangeError);
    expect(() => new UnixStream()).toThrow(TypeError);
    const ev = track(new EventFd());
    const dead = ev.fd;
    ev.close();
    expectSysError(() => a.sendmsg(new Uint8Array(1), [dead]), 'EBADF', 'sendmsg');
    a.close();
    expectSysError(() => a.sendmsg(new Uint8Array(1)), 'EBADF');
    expectSysError(() => a.recvmsg(new Uint8Array(1)), 'EBADF');
    expectSysError(() => a.peerCredentials(), 'EBADF');
    expectSysError(() => a.shutdown(), 'EBADF');
    expectSysError(() => a.watch(() => undefined), 'EBADF');
    b.close();
  });
});

describe('UnixListener', () => {
  it('listens, accepts, exchanges fds, reports peer credentials and cleans up its file', () => {
    const path = join(dir, 'basic.sock');
    const listener = UnixListener.listen(path);
    expect(statSync(path).isSocket()).toBe(true);
    expect(listener.accept()).toBeNull();
    const client = UnixStream.connect(path);
    const server = listener.accept()!;
    expect(server).not.toBeNull();
    expect(server.peerCredentials()).toEqual({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    const ev = track(new EventFd());
    client.sendmsg(new TextEncoder().encode('hi'), [ev.fd]);
    const got = server.recvmsg(new Uint8Array(8))!;
    expect(got.bytesRead).toBe(2);
    expect(got.fds).toHaveLength(1);
    closeFd(got.fds[0]!);
    listener.close();
    expect(existsSync(path)).toBe(false);
    expect(listener.closed).toBe(true);
    // accepted streams outlive the listener
    server.sendmsg(new Uint8Array([1]));
    expect(client.recvmsg(new Uint8Array(1))!.bytesRead).toBe(1);
    for (const x of [ev, client, server]) x.close();
    listener.close();
    expectSysError(() => listener.accept(), 'EBADF');
  });

  it('adopts a listening unix socket handed over as an fd (--fd), and refuses anything else', () => {
    const path = join(dir, 'adopt.sock');
    const made = UnixListener.listen(path);
    const adopted = UnixListener.adopt(dupFd(made.fd)); // as a child inherits it
    expect(adopted.path).toBe('');
    expect(adopted.accept()).toBeNull(); // non-blocking: nothing pending
    const client = UnixStream.connect(path);
    const server = adopted.accept()!;
    client.sendmsg(new Uint8Array([7]));
    expect(server.recvmsg(new Uint8Array(1))!.bytesRead).toBe(1);
    adopted.close();
    expect(existsSync(path)).toBe(true); // the socket file is the manager's
    made.close();
    for (const x of [client, server]) x.close();
    const ev = track(new EventFd());
    expectSysError(() => UnixListener.adopt(ev.fd), 'ENOTSOCK');
    const [a, b] = UnixStream.pair();
    expectSysError(() => UnixListener.adopt(a.fd), 'EINVAL'); // connected, not listening
    a.close();
    b.close();
    expectSysError(() => UnixListener.adopt(1_000_000 - 1), 'EBADF');
    expect(() => UnixListener.adopt(-1)).toThrow(RangeError);
  });

  it('supports abstract socket names', () => {
    const name = `\0vmv-sys-test-${process.pid}`;
    const listener = UnixListener.listen(name);
    const client = UnixStream.connect(name);
    const server = listener.accept()!;
    expect(server).not.toBeNull();
    for (const x of [client, server, listener]) x.close();
  });

  it('fails with errno names: in use, missing, refused, too long', () => {
    const path = join(dir, 'busy.sock');
    const listener = UnixListener.listen(path);
    expectSysError(() => UnixListener.listen(path), 'EADDRINUSE', 'bind');
    expectSysError(() => UnixListener.listen(path, { removeStale: true }), 'EADDRINUSE', 'bind');
    listener.close();
    expectSysError(() => UnixStream.connect(path), 'ENOENT', 'connect');
    expectSysError(() => UnixListener.listen(join(dir, 'no', 'such', 'dir.sock')), 'ENOENT', 'bind');
    expectSysError(() => UnixStream.connect('/' + 'x'.repeat(200)), 'ENAMETOOLONG', 'connect');
    expectSysError(() => UnixListener.listen('/' + 'x'.repeat(200)), 'ENAMETOOLONG', 'bind');
    expect(() => UnixListener.listen('')).toThrow(RangeError);
    expect(() => UnixStream.connect(3 as unknown as string)).toThrow(TypeError);
    expect(() => UnixListener.listen(path, { backlog: -1 })).toThrow(RangeError);
    expect(() => new UnixListener(Symbol('x'), 0, path)).toThrow(TypeError);
  });

  it('removeStale replaces a dead socket file but never a regular file', () => {
    const path = join(dir, 'stale.sock');
    // a socket file with nobody listening: made by a listener whose fd is closed behind its back
    const dead = UnixListener.listen(path);
    closeFd(dead.fd);
    expectSysError(() => UnixStream.connect(path), 'ECONNREFUSED', 'connect');
    expectSysError(() => UnixListener.listen(path), 'EADDRINUSE', 'bind');
    const fresh = UnixListener.listen(path, { removeStale: true });
    const c = UnixStream.connect(path);
    c.close();
    fresh.close();
    const file = join(dir, 'regular');
    writeFileSync(file, 'keep me');
    expectSysError(() => UnixListener.listen(file, { removeStale: true }), 'EADDRINUSE', 'bind');
    expect(existsSync(file)).toBe(true);
  });
});
