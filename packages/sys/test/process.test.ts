// Real peers in other processes (python3, which has socket.send_fds/recv_fds and os.eventfd).
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeFd, EventFd, eventfdRead, memfdCreate, mmap, PollEvents, UnixListener, UnixStream, watchEventFd } from '@vmv/sys';
import type { RecvResult } from '@vmv/sys';
import { closeAll, PEER, run, track, until } from './helpers';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmv-sys-proc-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
afterEach(closeAll);

describe('fd passing with another process', () => {
  it('sends a memfd and an eventfd, gets the peer\'s memfd and eventfd back', async () => {
    const [mine, theirs] = UnixStream.pair().map(track) as [UnixStream, UnixStream];
    const memfd = memfdCreate('vmv-exchange', 4096);
    track({ close: () => closeFd(memfd) });
    const ram = track(mmap(memfd, 4096));
    Buffer.from(ram.buffer).write('hello-node');
    const kick = track(new EventFd());
    const kicks: number[] = [];
    kick.watch((err, n) => {
      expect(err).toBeNull();
      kicks.push(n);
    });

    const child = run('python3', [PEER, 'exchange'], ['ignore', 'pipe', 'pipe', theirs.fd]);
    theirs.close(); // the child holds its own copy
    expect(mine.sendmsg(new TextEncoder().encode('MEM+EFD'), [memfd, kick.fd])).toBe(7);

    let reply: RecvResult | null = null;
    const buf = new Uint8Array(16);
    const w = mine.watch(() => {
      reply = mine.recvmsg(buf);
      if (reply !== null) w.stop();
    });
    await until(() => reply !== null && kicks.length > 0);
    const back = reply! as RecvResult;
    expect(new TextDecoder().decode(buf.subarray(0, back.bytesRead))).toBe('BACK');
    expect(back.fds).toHaveLength(2);
    const [theirMem, theirEfd] = back.fds as [number, number];
    track({ close: () => closeFd(theirMem) });
    track({ close: () => closeFd(theirEfd) });
    const view = track(mmap(theirMem, 4096));
    expect(Buffer.from(view.buffer, 0, 17).toString()).toBe('from-python-memfd');
    expect(eventfdRead(theirEfd)).toBe(3);
    // what the peer did to our memory and our eventfd
    expect(Buffer.from(ram.buffer, 100, 7).toString()).toBe('PYWROTE');
    expect(kicks).toEqual([5]);

    mine.close(); // the peer's final recv sees end of file and it exits
    const result = await child;
    expect(result.stdout + result.stderr).toBe('');
    expect(result.code).toBe(0);
    view.close();
    ram.close();
    closeFd(theirMem);
    closeFd(theirEfd);
    closeFd(memfd);
    kick.close();
  });

  it('accepts a connection from another process on a path and sees it hang up', async () => {
    const path = join(dir, 'peer.sock');
    const listener = track(UnixListener.listen(path));
    let conn: UnixStream | null = null;
    listener.watch(() => {
      conn ??= listener.accept();
    });
    const child = run('python3', [PEER, 'client', path], ['ignore', 'pipe', 'pipe']);
    await until(() => conn !== null);
    const stream = track(conn! as UnixStream);
    const received: RecvResult[] = [];
    let hangup = false;
    const buf = new Uint8Array(5);
    stream.watch((err, events) => {
      expect(err).toBeNull();
      for (let r = stream.recvmsg(buf); r !== null; r = stream.recvmsg(buf)) {
        if (r.bytesRead === 0) {
          hangup = true;
          break;
        }
        received.push(r);
        stream.sendmsg(new TextEncoder().encode('WORLD'));
      }
      if (hangup || (events & PollEvents.DISCONNECT) !== 0) stream.close();
    }, { events: PollEvents.READABLE | PollEvents.DISCONNECT });
    await until(() => stream.closed);
    const result = await child;
    expect(result.stdout + result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(received).toHaveLength(1);
    expect(received[0]!.bytesRead).toBe(5);
    expect(received[0]!.fds).toHaveLength(1);
    expect(eventfdRead(received[0]!.fds[0]!)).toBe(9);
    closeFd(received[0]!.fds[0]!);
    listener.close();
  });
});

describe('readiness with kicks from another process', () => {
  it('wakes a watcher for each cross-process kick and answers on a call eventfd', async () => {
    const rounds = 200;
    const kick = track(new EventFd());
    const call = track(new EventFd());
    const seen: number[] = [];
    const w = watchEventFd(kick.fd, (err, n) => {
      expect(err).toBeNull();
      seen.push(n);
      call.write(n);
    });
    const started = process.hrtime.bigint();
    const result = await run('python3', [PEER, 'kicker', String(rounds)], ['ignore', 'pipe', 'pipe', kick.fd, call.fd]);
    const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
    expect(result.stdout + result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(seen).toEqual(Array.from({ length: rounds }, (_, i) => i + 1));
    // a rough figure for the report (python's side dominates); not an assertion on speed
    process.stdout.write(`kick->callback->call round trips: ${rounds} in ${elapsed.toFixed(0)} ms including python start-up\n`);
    w.close();
    kick.close();
    call.close();
  });
});
