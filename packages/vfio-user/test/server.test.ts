/**
 * The node server over real unix sockets: fds received with SCM_RIGHTS, a DMA window mapped from
 * a memfd at an offset, interrupts written to a real eventfd, hostile framing ending the
 * connection, one client at a time, a new client after the first leaves.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventFd, closeFd, isSysError, memfdCreate, mmap, UnixStream } from '@vmv/sys';
import { IrqIndex, IrqSetFlags, PciRegion } from '@vmv/vfio-user';
import { VfioUserServer, type VfioUserConnectionEvent } from '@vmv/vfio-user/node';
import { parse, qemu, type Reply } from './support/client';
import { TestDevice } from './support/device';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

const tick = () => new Promise((r) => setTimeout(r, 2));

/** Reads one whole message from the client's end. */
async function receive(stream: UnixStream): Promise<Reply | null> {
  const head = new Uint8Array(16);
  let got = 0;
  for (let i = 0; got < 16; i++) {
    let r;
    try {
      r = stream.recvmsg(head.subarray(got));
    } catch (e) {
      if (isSysError(e, 'ECONNRESET')) return null;
      throw e;
    }
    if (r !== null && r.bytesRead === 0) return null;
    if (r !== null) got += r.bytesRead;
    else if (i > 5000) throw new Error('no reply');
    else await tick();
  }
  const size = new DataView(head.buffer).getUint32(4, true);
  const msg = new Uint8Array(size);
  msg.set(head);
  while (got < size) {
    const r = stream.recvmsg(msg.subarray(got));
    if (r === null) await tick();
    else got += r.bytesRead;
  }
  return parse(msg);
}

function setup() {
  const device = new TestDevice();
  const events: VfioUserConnectionEvent[] = [];
  const server = new VfioUserServer(device, { onConnection: (e) => events.push(e) });
  const [client, end] = UnixStream.pair();
  server.serve(end);
  cleanup.push(() => {
    server.close();
    client.close();
  });
  return { device, server, client, events };
}

describe('VfioUserServer', () => {
  it('negotiates, maps a memfd window at an offset, and signals a real eventfd', async () => {
    const { device, client } = setup();
    client.sendmsg(qemu.version());
    expect((await receive(client))!.flags).toBe(1);
    const memfd = memfdCreate('guest-ram', 0x3000);
    const ram = mmap(memfd, 0x3000);
    cleanup.push(() => {
      ram.close();
      closeFd(memfd);
    });
    new DataView(ram.buffer).setUint32(0x1008, 0xcafef00d, true);
    client.sendmsg(qemu.dmaMap(0x8000_0000n, 0x2000n, 3, 0x1000n), [memfd]);
    expect((await receive(client))!.flags).toBe(1);
    const memory = device.ctx!.dma.memory!;
    expect(memory.readU32(0x8000_0008)).toBe(0xcafef00d);
    memory.writeU32(0x8000_1000, 0x12345678);
    expect(new DataView(ram.buffer).getUint32(0x2000, true)).toBe(0x12345678);

    const ev = new EventFd();
    cleanup.push(() => ev.close());
    client.sendmsg(qemu.setIrqs(IrqSetFlags.DATA_EVENTFD | IrqSetFlags.ACTION_TRIGGER, IrqIndex.MSIX, 1, 1), [ev.fd]);
    expect((await receive(client))!.flags).toBe(1);
    expect(device.ctx!.irqs.trigger(IrqIndex.MSIX, 1)).toBe(true);
    expect(ev.read()).toBe(1);

    client.sendmsg(qemu.regionRead(PciRegion.CONFIG, 0, 4));
    expect([...(await receive(client))!.body.subarray(16)]).toEqual([0x34, 0x12, 0x78, 0x56]);
  });

  it('ends the connection on a broken frame and detaches the device; the next client is served', async () => {
    const { device, client, server, events } = setup();
    client.sendmsg(qemu.version());
    await receive(client);
    const bad = qemu.getInfo();
    new DataView(bad.buffer).setUint32(4, 8, true);
    client.sendmsg(bad);
    expect(await receive(client)).toBeNull();
    await server.disconnected();
    expect(device.calls.at(-1)).toBe('detach');
    expect(events.map((e) => e.type)).toEqual(['connected', 'disconnected']);
    const [again, end] = UnixStream.pair();
    cleanup.push(() => again.close());
    expect(server.serve(end)).toBe(true);
    again.sendmsg(qemu.version());
    expect((await receive(again))!.flags).toBe(1);
  });

  it('refuses a malformed device at construction, before any client', () => {
    expect(() => new VfioUserServer({ ...new TestDevice() } as TestDevice)).toThrow(TypeError);
    expect(() => new VfioUserServer(Object.assign(new TestDevice(), { configSize: 512 }))).toThrow(RangeError);
    expect(() => new VfioUserServer(Object.assign(new TestDevice(), { bars: [{ size: 0x1800 }] }))).toThrow(RangeError);
    expect(() => new VfioUserServer(new TestDevice([2]))).toThrow(RangeError);
  });

  it('listens on a path, refuses a second client while one is connected', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vfio-user-'));
    const path = join(dir, 's.sock');
    const events: VfioUserConnectionEvent[] = [];
    const server = new VfioUserServer(new TestDevice(), { onConnection: (e) => events.push(e) });
    server.listen(path);
    const a = UnixStream.connect(path);
    const b = UnixStream.connect(path);
    cleanup.push(() => {
      a.close();
      b.close();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    });
    expect(await receive(b)).toBeNull();
    a.sendmsg(qemu.version());
    expect((await receive(a))!.flags).toBe(1);
    expect(events.map((e) => e.type)).toEqual(['connected', 'refused']);
  });
});
