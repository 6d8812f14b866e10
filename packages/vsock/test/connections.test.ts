/**
 * Connections against the Linux transport model on virtio-mmio: config and features, connecting
 * both ways, RST for a port nobody listens on, half-close, clean close both ways, reset,
 * TRANSPORT_RESET, connection limits, NO_IMPLIED_STREAM, and a device reset (a vhost-user ring
 * stop and start) that leaves connections alone.
 */
import { describe, expect, it } from '@jest/globals';
import { DeviceId } from '@vmv/device-trait';
import { HOST_CID, ShutdownFlag, VsockDevice, VsockFeature, VsockOp, type CloseReason, type VsockConnection, type VsockEvent } from '@vmv/vsock';
import { LinuxVsock, until } from './support/linux-vsock';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

function collect(conn: VsockConnection) {
  const got: Uint8Array[] = [];
  const state = { ended: false, closed: null as CloseReason | null, opened: false };
  conn.attach({ data: (b) => void got.push(b), end: () => (state.ended = true), close: (r) => (state.closed = r), open: () => (state.opened = true) });
  return { got, state, text: () => got.map(str).join('') };
}

describe('device', () => {
  it('is device 19 with guest_cid in its config, and offers STREAM, SEQPACKET and NO_IMPLIED_STREAM', () => {
    const device = new VsockDevice({ guestCid: 0x1234_5678 });
    expect(device.deviceId).toBe(DeviceId.SOCKET);
    expect(device.queueMaxSizes).toHaveLength(3);
    for (const bit of [VsockFeature.STREAM, VsockFeature.SEQPACKET, VsockFeature.NO_IMPLIED_STREAM]) expect((device.deviceFeatures >> BigInt(bit)) & 1n).toBe(1n);
    expect((new VsockDevice({ guestCid: 3, seqpacket: false }).deviceFeatures >> 1n) & 1n).toBe(0n);
    const config = new Uint8Array(8);
    device.readConfig(0, config);
    expect([...config]).toEqual([0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0]);
    const guest = new LinuxVsock(device);
    guest.probe();
    expect(guest.cid).toBe(0x1234_5678);
  });

  it.each([0, 1, 2, 0xffff_ffff, 2 ** 32, -1, 1.5])('refuses the reserved or impossible guest CID %p', (cid) => {
    expect(() => new VsockDevice({ guestCid: cid })).toThrow(RangeError);
  });

  it('refuses FEATURES_OK for NO_IMPLIED_STREAM without a socket type', () => {
    const device = new VsockDevice({ guestCid: 3 });
    expect(device.validateFeatures(1n << 2n)).toBe(false);
    expect(device.validateFeatures((1n << 2n) | (1n << 1n))).toBe(true);
    expect(device.validateFeatures(0n)).toBe(true);
  });
});

describe('guest → host', () => {
  it('connects to a listener, bytes both ways; a port nobody listens on gets RST at once', async () => {
    const events: VsockEvent[] = [];
    const device = new VsockDevice({ guestCid: 3, onEvent: (e) => events.push(e) });
    const conns: ReturnType<typeof collect>[] = [];
    device.listen(5000, (c) => {
      const col = collect(c);
      conns.push(col);
      c.write(text(`hello ${c.peerPort}`));
    });
    const guest = new LinuxVsock(device);
    guest.probe();
    const s = guest.connect(5000);
    await until(() => s.state === 'open' && s.inbox.length > 0);
    expect(str(guest.read(s))).toBe(`hello ${s.port}`);
    guest.send(s, text('from guest'));
    await until(() => conns[0]!.text() === 'from guest');

    const nobody = guest.connect(5001);
    await until(() => nobody.state === 'closed');
    expect(nobody.closeReason).toBe('refused');
    expect(events).toContainEqual({ type: 'reset', reason: 'no-listener', port: 5001, peerPort: nobody.port });
    expect(device.connectionCount).toBe(1);
    expect(guest.driver.needsReset()).toBe(false);
  });

  it("listen('any') takes every port without a listener of its own; manualAccept defers the RESPONSE", async () => {
    const device = new VsockDevice({ guestCid: 3 });
    const pending: VsockConnection[] = [];
    device.listen('any', (c) => pending.push(c), { manualAccept: true });
    device.listen(7, (c) => c.write(text('seven')));
    const guest = new LinuxVsock(device);
    guest.probe();
    const a = guest.connect(1234);
    const b = guest.connect(1235);
    const seven = guest.connect(7);
    await until(() => pending.length === 2 && seven.state === 'open');
    expect(a.state).toBe('connecting');
    expect(pending.map((c) => [c.state, c.localPort])).toEqual([['requested', 1234], ['requested', 1235]]);
    pending[0]!.accept();
    pending[1]!.reset();
    await until(() => a.state === 'open' && b.state === 'closed');
    expect(b.closeReason).toBe('refused');
    expect(() => pending[0]!.accept()).toThrow(TypeError);
  });

  it('half-close: the guest shuts down SEND, the host still sends; then a clean close ends with the device RST', async () => {
    const device = new VsockDevice({ guestCid: 3 });
    let host!: ReturnType<typeof collect>;
    let conn!: VsockConnection;
    device.listen(80, (c) => {
      conn = c;
      host = collect(c);
    });
    const guest = new LinuxVsock(device);
    guest.probe();
    const s = guest.connect(80);
    await until(() => s.state === 'open');
    guest.send(s, text('request'));
    guest.shutdown(s, ShutdownFlag.SEND);
    await until(() => host.state.ended);
    expect(host.text()).toBe('request');
    expect(conn.writable).toBe(true);
    conn.write(text('response, after the guest half-closed'));
    conn.end();
    await until(() => s.peerShutdown === ShutdownFlag.SEND);
    expect(str(guest.read(s))).toBe('response, after the guest half-closed');
    expect(() => conn.write(text('x'))).toThrow(TypeError);
    guest.shutdown(s, ShutdownFlag.RECEIVE | ShutdownFlag.SEND);
    await until(() => s.state === 'closed');
    expect(s.closeReason).toBe('reset'); // Linux's peer sees the device's RST that ends a clean close
    expect(host.state.closed).toBe('closed');
    expect(device.connectionCount).toBe(0);
  });

  it('the host closes: SHUTDOWN both ways after the data, the guest answers RST', async () => {
    const device = new VsockDevice({ guestCid: 3 });
    let host!: ReturnType<typeof collect>;
    device.listen(80, (c) => {
      host = collect(c);
      c.write(text('bye'));
      c.close();
    });
    const guest = new LinuxVsock(device);
    guest.probe();
    const s = guest.connect(80);
    await until(() => s.peerShutdown === (ShutdownFlag.RECEIVE | ShutdownFlag.SEND));
    expect(guest.log.map((h) => h.op)).toEqual([VsockOp.RESPONSE, VsockOp.RW, VsockOp.SHUTDOWN]);
    expect(str(guest.read(s))).toBe('bye');
    guest.shutdown(s, ShutdownFlag.RECEIVE | ShutdownFlag.SEND); // the guest's close(2)
    await until(() => s.state === 'closed' && host.state.closed !== null);
    expect(host.state.closed).toBe('closed');
    expect(guest.log.at(-1)!.op).toBe(VsockOp.RST);
  });

  it('a host close the guest never answers ends in RST after closeTimeout', async () => {
    const device = new VsockDevice({ guestCid: 3, closeTimeout: 20 });
    let conn!: VsockConnection;
    device.listen(80, (c) => (conn = c));
    const guest = new LinuxVsock(device);
    guest.probe();
    const s = guest.connect(80);
    await until(() => s.state === 'open');
    guest.deaf = true; // the guest's driver goes quiet: packets taken, never answered
    const reasons: CloseReason[] = [];
    conn.attach({ close: (r) => reasons.push(r) });
    conn.close();
    await new Promise((r) => setTimeout(r, 60));
    expect(reasons).toEqual(['timeout']);
    await until(() => guest.log.at(-1)!.op === VsockOp.RST);
    expect(guest.log.slice(-2).map((h) => h.op)).toEqual([VsockOp.SHUTDOWN, VsockOp.RST]);
    expect(device.connectionCount).toBe(0);
  });
});

describe('host → guest', () => {
  it('connects to a guest listener; a port nobody listens on is refused', async () => {
    const device = new VsockDevice({ guestCid: 3 });
    const guest = new LinuxVsock(device);
    guest.probe();
    const accepted = guest.listen(9000);
    const conn = device.connect(9000);
    const col = collect(conn);
    conn.write(text('written before the guest accepted'));
    expect(conn.state).toBe('connecting');
    await until(() => col.state.opened && accepted.length === 1 && accepted[0]!.inbox.length > 0);
    expect(conn.localCid).toBe(HOST_CID);
    expect(conn.localPort).toBeGreaterThanOrEqual(1024);
    expect(str(guest.read(accepted[0]!))).toBe('written before the guest accepted');
    guest.send(accepted[0]!, text('back'));
    await until(() => col.text() === 'back');

    const refused = collect(device.connect(9001));
    await until(() => refused.state.closed !== null);
    expect(refused.state.closed).toBe('refused');
  });

  it('reset() sends RST at once; the guest sees its socket reset', async () => {
    const device = new VsockDevice({ guestCid: 3 });
    const guest = new LinuxVsock(device);
    guest.probe();
    const accepted = guest.listen(9000);
    const conn = device.connect(9000);
    const col = collect(conn);
    await until(() => col.state.opened);
    conn.reset();
    await until(() => accepted[0]!.state === 'closed');
    expect(accepted[0]!.closeReason).toBe('reset');
    expect(col.state.closed).toBe('local-reset');
    expect(device.connectionCount).toBe(0);
  });
});

describe('limits and resets', () => {
  it('refuses connections past the limit (maxConnections, or maxBuffered / bufAlloc)', async () => {
    const events: VsockEvent[] = [];
    const device = new VsockDevice({ guestCid: 3, maxConnections: 100, bufAlloc: 64 * 1024, maxBuffered: 256 * 1024, onEvent: (e) => events.push(e) });
    expect(device.connectionLimit).toBe(4);
    device.listen(1, () => undefined);
    const guest = new LinuxVsock(device);
    guest.probe();
    const socks = Array.from({ length: 6 }, () => guest.connect(1));
    await until(() => socks.every((s) => s.state !== 'connecting'));
    expect(socks.map((s) => s.state)).toEqual(['open', 'open', 'open', 'open', 'closed', 'closed']);
    expect(events.filter((e) => e.type === 'reset' && e.reason === 'limit')).toHaveLength(2);
    expect(() => device.connect(5)).toThrow(RangeError);
  });

  it('transportReset(): every connection dropped, TRANSPORT_RESET on the event queue, listeners stay', async () => {
    const device = new VsockDevice({ guestCid: 3 });
    const closed: CloseReason[] = [];
    device.listen(1, (c) => c.attach({ close: (r) => closed.push(r) }));
    const guest = new LinuxVsock(device);
    guest.probe();
    const a = guest.connect(1);
    const b = guest.connect(1);
    await until(() => a.state === 'open' && b.state === 'open');
    device.transportReset();
    await until(() => guest.transportResets === 1);
    expect([a.state, b.state]).toEqual(['closed', 'closed']);
    expect(closed).toEqual(['transport-reset', 'transport-reset']);
    expect(device.connectionCount).toBe(0);
    const again = guest.connect(1);
    await until(() => again.state === 'open');
  });

  it('a TRANSPORT_RESET asked for before the driver is up (a restarted backend) is delivered once it posts event buffers', async () => {
    const device = new VsockDevice({ guestCid: 3 });
    device.transportReset();
    const guest = new LinuxVsock(device);
    guest.probe();
    await until(() => guest.transportResets === 1);
    // A restored device: the guest's connections are gone, and it is told at the next activation.
    guest.driver.reset();
    device.restore(JSON.parse(JSON.stringify(device.snapshot())));
    const again = new LinuxVsock(device);
    again.probe();
    await until(() => again.transportResets === 1);
  });

  it('a device reset (a ring stop and start) leaves connections and their data alone', async () => {
    const device = new VsockDevice({ guestCid: 3 });
    let host!: ReturnType<typeof collect>;
    device.listen(1, (c) => (host = collect(c)));
    const guest = new LinuxVsock(device);
    guest.probe();
    const s = guest.connect(1);
    await until(() => s.state === 'open');
    device.reset();
    expect(device.connectionCount).toBe(1);
    guest.send(s, text('still there'));
    expect(host.got).toHaveLength(0); // not activated: nothing served
    expect(host.state.closed).toBeNull();
  });
});

describe('socket types (§5.10.3)', () => {
  it('Linux (SEQPACKET alone negotiated) gets stream too; with NO_IMPLIED_STREAM and no STREAM, a stream REQUEST is reset', async () => {
    for (const [accept, streamOk, seqOk] of [
      [[VsockFeature.SEQPACKET], true, true],
      [[VsockFeature.SEQPACKET, VsockFeature.NO_IMPLIED_STREAM], false, true],
      [[VsockFeature.STREAM, VsockFeature.NO_IMPLIED_STREAM], true, false],
      [[], true, false],
    ] as const) {
      const events: VsockEvent[] = [];
      const device = new VsockDevice({ guestCid: 3, onEvent: (e) => events.push(e) });
      device.listen(1, () => undefined);
      const guest = new LinuxVsock(device, { accept });
      guest.probe();
      const st = guest.connect(1, 'stream');
      const sq = guest.connect(1, 'seqpacket');
      await until(() => st.state !== 'connecting' && sq.state !== 'connecting');
      expect([accept, st.state === 'open', sq.state === 'open']).toEqual([accept, streamOk, seqOk]);
      expect(events.filter((e) => e.type === 'reset' && e.reason === 'type-disabled')).toHaveLength((streamOk ? 0 : 1) + (seqOk ? 0 : 1));
    }
  });
});
