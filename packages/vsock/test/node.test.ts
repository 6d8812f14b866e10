/**
 * `@vmv/vsock/node` over real unix sockets, the guest being the Linux transport model: the hybrid
 * backend both ways (CONNECT <port> / OK <host port>, and `<uds>_<port>` for the guest's
 * connections) moving checksummed multi-MiB data with a stalled reader on each side, bounded
 * buffering meanwhile; a bad CONNECT line; a guest connection nobody listens for; message sockets.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShutdownFlag, VsockDevice, type VsockConnection } from '@vmv/vsock';
import { VsockMessageSocket, VsockStream, serveHybrid, type HybridBackend, type VsockMessage } from '@vmv/vsock/node';
import { LinuxVsock, pattern, until } from './support/linux-vsock';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const turn = () => new Promise((r) => setImmediate(r));
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function setup(highWaterMark = 64 * 1024) {
  const dir = mkdtempSync(join(tmpdir(), 'vmv-vsock-'));
  const device = new VsockDevice({ guestCid: 3, highWaterMark });
  const made: VsockConnection[] = [];
  const connect0 = device.connect.bind(device);
  device.connect = (port, options) => {
    const c = connect0(port, options);
    made.push(c);
    return c;
  };
  const logs: string[] = [];
  const udsPath = join(dir, 'vm3.vsock');
  const backend: HybridBackend = await serveHybrid(device, { udsPath, log: (l) => logs.push(l) });
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }), () => backend.close());
  const guest = new LinuxVsock(device);
  guest.probe();
  return { device, guest, udsPath, logs, made, backend };
}

/** Reads a socket's first line and what came after it. */
function firstLine(socket: Socket): Promise<{ line: string; rest: Buffer[] }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const rest: Buffer[] = [];
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const nl = buf.indexOf(10);
      if (nl < 0) return;
      socket.off('data', onData);
      socket.pause();
      if (nl + 1 < buf.length) rest.push(buf.subarray(nl + 1));
      resolve({ line: buf.subarray(0, nl).toString(), rest });
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error('closed before a line')));
  });
}

describe('hybrid backend', () => {
  it('a host client: CONNECT <port>, OK <host port>, 4 MiB each way, checksummed, each reader stalled a while; buffers bounded', async () => {
    const { guest, udsPath, made } = await setup();
    const accepted = guest.listen(5000);
    const client = connect(udsPath);
    client.write('CONNECT 5000\n');
    const { line, rest } = await firstLine(client);
    expect(line).toBe(`OK ${made[0]!.localPort}`);
    expect(rest).toEqual([]);
    const s = accepted[0]!;
    const down = pattern(7, 4 << 20);
    const up = pattern(8, 4 << 20);
    client.write(down);
    // The guest reads nothing for a while: its credit fills (waited for: the bytes come through real sockets), then
    // the host side stops the client, and more turns bring no more.
    await until(() => s.rxBytes === guest.bufAlloc, 1_000_000);
    for (let i = 0; i < 300; i++) await turn();
    expect(s.rxBytes).toBe(guest.bufAlloc);
    const conn = made[0]!;
    expect(conn.buffered).toBeLessThanOrEqual(64 * 1024 + 65536);
    // The client reads nothing for a while either, while the guest sends.
    const received: Buffer[] = [];
    const gotDown: Uint8Array[] = [];
    let sent = 0;
    let gotDownBytes = 0;
    for (let i = 0; i < 300; i++) {
      sent += guest.send(s, up.subarray(sent));
      await turn();
    }
    expect(conn.receiveBuffered).toBeLessThanOrEqual(conn.bufAlloc);
    client.on('data', (c: Buffer) => void received.push(c));
    client.resume();
    const total = () => received.reduce((n, b) => n + b.length, 0);
    await until(() => {
      sent += guest.send(s, up.subarray(sent));
      const r = guest.read(s);
      gotDown.push(r);
      gotDownBytes += r.length;
      return gotDownBytes === down.length && total() === up.length;
    }, 2_000_000);
    expect(sha(Buffer.concat(gotDown))).toBe(sha(down));
    expect(sha(Buffer.concat(received))).toBe(sha(up));
    expect(guest.overruns).toBe(0);
    expect(conn.maxBuffered).toBeLessThanOrEqual(64 * 1024 + 65536);
    client.destroy();
    await until(() => (s.peerShutdown & ShutdownFlag.SEND) !== 0); // the client's end is the guest's SHUTDOWN SEND
  }, 120_000);

  it('a guest connection to host port P reaches <uds>_P: 3 MiB up with a stalled reader, 2 MiB back, checksummed', async () => {
    const { guest, udsPath } = await setup();
    const up = pattern(9, 3 << 20);
    const down = pattern(10, 2 << 20);
    const got: Buffer[] = [];
    let server!: Socket;
    const listener = createServer((sock) => {
      server = sock;
      sock.pause(); // stalled at first
      sock.on('data', (c: Buffer) => void got.push(c));
    }).listen(`${udsPath}_7000`);
    cleanup.push(() => new Promise<void>((r) => (server?.destroy(), listener.close(() => r()))));
    await new Promise((r) => listener.once('listening', r));
    const s = guest.connect(7000);
    await until(() => s.state === 'open', 1_000_000);
    let sent = 0;
    for (let i = 0; i < 300; i++) {
      sent += guest.send(s, up.subarray(sent));
      await turn();
    }
    expect(sent).toBeLessThan(up.length); // the guest is held back by its credit
    server.resume();
    server.write(down);
    const back: Uint8Array[] = [];
    let backBytes = 0;
    await until(() => {
      sent += guest.send(s, up.subarray(sent));
      const r = guest.read(s);
      back.push(r);
      backBytes += r.length;
      return got.reduce((n, b) => n + b.length, 0) === up.length && backBytes === down.length;
    }, 2_000_000);
    expect(sha(Buffer.concat(got))).toBe(sha(up));
    expect(sha(Buffer.concat(back))).toBe(sha(down));
  }, 120_000);

  it('a guest that sends and closes at once (SHUTDOWN both ways, as Linux close does) to a host reader that keeps stalling: every byte still arrives', async () => {
    const { guest, udsPath } = await setup();
    const data = pattern(11, 4 << 20);
    const got: Buffer[] = [];
    let closed = false; // the socket ended or closed: nothing more comes
    let server!: Socket;
    let chunks = 0;
    const listener = createServer({ allowHalfOpen: true }, (sock) => {
      server = sock;
      sock.on('data', (c: Buffer) => {
        got.push(c);
        if (++chunks % 4 === 0) {
          sock.pause(); // a reader that keeps stopping: the host side stays backed up
          setTimeout(() => sock.resume(), 2);
        }
      });
      sock.on('end', () => void (closed = true));
      sock.on('close', () => void (closed = true));
    }).listen(`${udsPath}_7100`);
    cleanup.push(() => new Promise<void>((r) => (server?.destroy(), listener.close(() => r()))));
    await new Promise((r) => listener.once('listening', r));
    const s = guest.connect(7100);
    await until(() => s.state === 'open', 1_000_000);
    let sent = 0;
    await until(() => {
      sent += guest.send(s, data.subarray(sent));
      return sent === data.length;
    }, 2_000_000);
    guest.shutdown(s, ShutdownFlag.SEND | ShutdownFlag.RECEIVE); // while the host still holds bytes
    await until(() => closed && s.state === 'closed', 2_000_000);
    expect(got.reduce((n, b) => n + b.length, 0)).toBe(data.length);
    expect(sha(Buffer.concat(got))).toBe(sha(data));
  }, 60_000);

  it('a socket file a killed backend left (nobody listens) is replaced; one a live process listens on is refused with EADDRINUSE', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmv-vsock-stale-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const udsPath = join(dir, 'vm.vsock');
    // a stale socket file: listened on, moved away from its listener, the listener closed
    const first = createServer().listen(join(dir, 'moved'));
    await new Promise((r) => first.once('listening', r));
    renameSync(join(dir, 'moved'), udsPath);
    await new Promise((r) => first.close(r));
    const backend = await serveHybrid(new VsockDevice({ guestCid: 3 }), { udsPath });
    cleanup.push(() => backend.close());
    const client = connect(udsPath);
    await new Promise((r) => client.once('connect', r)); // the new backend listens there
    client.destroy();
    await expect(serveHybrid(new VsockDevice({ guestCid: 4 }), { udsPath })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('a bad CONNECT line: the client is closed and one line logged; a guest port nobody listens for: RST and one line', async () => {
    const { guest, udsPath, logs, device } = await setup();
    for (const bad of ['HELLO\n', 'CONNECT 99999999999\n', `CONNECT ${'1'.repeat(100)}`]) {
      const client = connect(udsPath);
      client.resume();
      client.write(bad);
      await new Promise((r) => client.once('close', r));
    }
    expect(logs).toHaveLength(3);
    expect(logs.every((l) => l.includes('bad CONNECT line'))).toBe(true);
    const s = guest.connect(7001);
    await until(() => s.state === 'closed', 1_000_000);
    expect(s.closeReason).toBe('refused');
    expect(logs).toHaveLength(4);
    expect(logs[3]).toContain('_7001');
    expect(device.connectionCount).toBe(0);
  });
});

describe('streams', () => {
  it('VsockMessageSocket: whole messages with EOR both ways', async () => {
    const device = new VsockDevice({ guestCid: 3 });
    const sockets: VsockMessageSocket[] = [];
    device.listen(1, (c) => sockets.push(new VsockMessageSocket(c)));
    const guest = new LinuxVsock(device);
    guest.probe();
    const s = guest.connect(1, 'seqpacket');
    await until(() => s.state === 'open' && sockets.length === 1);
    const got: VsockMessage[] = [];
    sockets[0]!.on('data', (m: VsockMessage) => void got.push(m));
    expect(guest.send(s, pattern(1, 5000), true)).toBe(5000);
    expect(guest.send(s, new Uint8Array(0))).toBe(0);
    await until(() => got.length === 2);
    expect([got[0]!.data.length, got[0]!.eor, got[1]!.data.length, got[1]!.eor]).toEqual([5000, true, 0, false]);
    sockets[0]!.write({ data: Buffer.from('pong'), eor: true });
    await until(() => s.inbox.length === 1);
    const m = guest.readMessage(s)!;
    expect([Buffer.from(m.data).toString(), m.eor]).toEqual(['pong', true]);
    expect(() => new VsockStream(device.connect(2, { type: 'seqpacket' }))).toThrow(TypeError);
  });

  it('VsockStream: the guest RST destroys the stream with VSOCK_RESET', async () => {
    const device = new VsockDevice({ guestCid: 3 });
    const streams: VsockStream[] = [];
    device.listen(1, (c) => streams.push(new VsockStream(c)));
    const guest = new LinuxVsock(device);
    guest.probe();
    const s = guest.connect(1);
    await until(() => s.state === 'open' && streams.length === 1);
    const error = new Promise<NodeJS.ErrnoException>((r) => streams[0]!.once('error', r));
    guest.rst(s);
    expect((await error).code).toBe('VSOCK_RESET');
  });
});
