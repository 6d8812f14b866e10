/**
 * `@vmv/console/node`: a Node stream as a port's host end (paused at the high-water mark, resumed
 * on drain; the guest's buffer returned only after the stream's write callback), and servePort:
 * TCP and unix listeners, one client at a time, PORT_OPEN following the client.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { ConsoleDevice } from '@vmv/console';
import { connectStream, connectStreams, servePort } from '@vmv/console/node';
import { LinuxConsole, until } from './support/linux-console';

describe('connectStreams', () => {
  it('pauses the input at the high-water mark and resumes it once the guest opened the port and read; guest bytes reach the output', async () => {
    const device = new ConsoleDevice({ ports: [{}, { name: 's' }], highWaterMark: 1024 });
    const guest = new LinuxConsole(device);
    guest.probe();
    await until(() => guest.ports[1]!.added);
    const input = new PassThrough();
    const output = new PassThrough();
    const out: Buffer[] = [];
    output.on('data', (b: Buffer) => out.push(b));
    const stop = connectStreams(device.port(1), input, output);
    // The guest has not opened the port yet: host bytes wait, and the input is paused at the mark.
    for (let i = 0; i < 64; i++) input.write(Buffer.alloc(512, i));
    await until(() => input.isPaused());
    const waiting = device.port(1).buffered;
    expect(waiting).toBeGreaterThanOrEqual(1024);
    guest.open(1);
    let got = 0;
    await until(() => (got += guest.take(1).length) >= 64 * 512);
    expect(got).toBe(64 * 512);
    expect(device.port(1).maxBuffered).toBeLessThan(1024 + 512 * 2);
    guest.write(1, new TextEncoder().encode('back'));
    await until(() => Buffer.concat(out).toString() === 'back');
    stop();
    expect(device.port(1).hostConnected).toBe(false);
  });
});

describe('servePort', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmv-console-node-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([['unix'], ['tcp']])('%s: one client at a time; PORT_OPEN follows it; bytes both ways', async (kind) => {
    const device = new ConsoleDevice({ ports: [{}, { name: 'net' }] });
    const guest = new LinuxConsole(device);
    guest.probe();
    await until(() => guest.ports[1]!.added);
    guest.open(1);
    const address = kind === 'unix' ? { unix: join(dir, 'p.sock') } : { tcp: 0 };
    const l = await servePort(device.port(1), address);
    const where = l.address;
    const connect = (): Socket => ('unix' in where ? createConnection(where.unix) : createConnection(where.tcp, where.host));
    const a = connect();
    const fromGuest: Buffer[] = [];
    a.on('data', (b: Buffer) => fromGuest.push(b));
    await until(() => guest.ports[1]!.hostOpen);
    const b = connect();
    let bClosed = false;
    b.on('close', () => (bClosed = true));
    b.on('error', () => {});
    await until(() => bClosed);
    expect(l.connected).toBe(true);
    a.write('to guest');
    await until(() => guest.ports[1]!.received.length > 0);
    expect(Buffer.from(guest.take(1)).toString()).toBe('to guest');
    guest.write(1, new TextEncoder().encode('to host'));
    await until(() => Buffer.concat(fromGuest).toString() === 'to host');
    a.destroy();
    await until(() => !guest.ports[1]!.hostOpen);
    l.close();
  });
});

describe('connectStream', () => {
  it('disconnects the port when the stream ends', async () => {
    const device = new ConsoleDevice();
    const s = new PassThrough();
    connectStream(device.port(0), s);
    expect(device.port(0).hostConnected).toBe(true);
    s.end();
    s.resume();
    await until(() => !device.port(0).hostConnected);
  });
});
