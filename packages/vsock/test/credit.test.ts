/**
 * Credit flow control (§5.10.6.3) as the spec accounts it: the device never sends the guest more
 * than `buf_alloc - (tx_cnt - fwd_cnt)`, never holds more than the buf_alloc it advertised, resets
 * a guest that sends beyond its credit, answers CREDIT_REQUEST, sends CREDIT_UPDATE as the host
 * takes bytes; receive buffers are used on demand; replies it owes are bounded (§5.10.6.1).
 */
import { describe, expect, it } from '@jest/globals';
import { HEADER_SIZE, VsockDevice, VsockOp, VsockType, type VsockConnection, type VsockEvent } from '@vmv/vsock';
import { LinuxVsock, pattern, until } from './support/linux-vsock';

async function pair(options: { bufAlloc?: number; guestBufAlloc?: number; highWaterMark?: number; rxSize?: number } = {}) {
  const events: VsockEvent[] = [];
  const device = new VsockDevice({ guestCid: 3, bufAlloc: options.bufAlloc ?? 64 * 1024, highWaterMark: options.highWaterMark, onEvent: (e) => events.push(e) });
  let conn!: VsockConnection;
  device.listen(1, (c) => (conn = c));
  const guest = new LinuxVsock(device, { bufAlloc: options.guestBufAlloc, rxSize: options.rxSize });
  guest.probe();
  const s = guest.connect(1);
  await until(() => s.state === 'open');
  return { device, guest, s, conn, events };
}

describe('guest → host credit', () => {
  it('a paused host holds at most buf_alloc; the guest waits; resuming sends CREDIT_UPDATE and the rest flows', async () => {
    const { guest, s, conn } = await pair({ bufAlloc: 64 * 1024 });
    const got: Uint8Array[] = [];
    conn.attach({ data: (b) => (got.push(b), false) }); // takes one chunk, then pauses
    conn.pause();
    const data = pattern(1, 200 * 1024);
    let sent = guest.send(s, data);
    expect(sent).toBe(64 * 1024); // the credit the device advertised, no more
    await until(() => conn.receiveBuffered === 64 * 1024);
    expect(guest.send(s, data.subarray(sent))).toBe(0);
    for (let turn = 0; got.reduce((n, b) => n + b.length, 0) < data.length; turn++) {
      if (turn > 10_000) throw new Error('stuck');
      expect(conn.receiveBuffered).toBeLessThanOrEqual(64 * 1024);
      conn.resume();
      sent += guest.send(s, data.subarray(sent));
      await new Promise((r) => setImmediate(r));
    }
    expect(Buffer.concat(got).equals(Buffer.from(data))).toBe(true);
    expect(guest.log.filter((h) => h.op === VsockOp.CREDIT_UPDATE).length).toBeGreaterThan(0);
  });

  it('a guest that sends beyond its credit gets RST for that connection; memory stays bounded', async () => {
    const { guest, s, conn, events, device } = await pair({ bufAlloc: 16 * 1024 });
    const reasons: string[] = [];
    conn.attach({ close: (r) => reasons.push(r) });
    conn.pause();
    // The guest ignores the credit: 16 KiB is allowed, the next byte is not.
    guest.raw(guest.header(s, VsockOp.RW, 0, 16 * 1024), new Uint8Array(16 * 1024));
    guest.raw(guest.header(s, VsockOp.RW, 0, 1), new Uint8Array(1));
    await until(() => s.state === 'closed');
    expect(s.closeReason).toBe('reset');
    expect(reasons).toEqual(['credit-exceeded']);
    expect(events).toContainEqual({ type: 'reset', reason: 'credit-exceeded', port: 1, peerPort: s.port });
    expect(conn.receiveBuffered).toBe(0);
    expect(device.connectionCount).toBe(0);
  });

  it('credit is judged by the fwd_cnt the guest was sent, not by what the host took since', async () => {
    const { guest, s, conn } = await pair({ bufAlloc: 16 * 1024 });
    const got: Uint8Array[] = [];
    conn.attach({ data: (b) => void got.push(b) });
    guest.stall(true);
    useEveryRxBuffer(conn);
    await until(() => s.inbox.length === RX_BUFFERS); // no rx buffer left: the device cannot tell the guest its new fwd_cnt
    const logged = guest.log.length;
    guest.raw(guest.header(s, VsockOp.RW, 0, 16 * 1024), new Uint8Array(16 * 1024));
    await until(() => got.length === 1);
    // Taken by the host, but the guest was never told: one byte more is beyond its credit.
    guest.raw(guest.header(s, VsockOp.RW, 0, 1), new Uint8Array(1));
    await until(() => conn.state === 'closed');
    expect(conn.closeReason).toBe('credit-exceeded');
    expect(guest.log.length).toBe(logged);
    guest.stall(false);
    await until(() => s.state === 'closed');
    expect(s.closeReason).toBe('reset');
  });

  it('answers CREDIT_REQUEST with CREDIT_UPDATE carrying buf_alloc and fwd_cnt', async () => {
    const { guest, s } = await pair({ bufAlloc: 32 * 1024 });
    const before = guest.log.length;
    guest.creditRequest(s);
    await until(() => guest.log.length > before);
    const h = guest.log.at(-1)!;
    expect([h.op, h.bufAlloc, h.fwdCnt, h.len]).toEqual([VsockOp.CREDIT_UPDATE, 32 * 1024, 0, 0]);
  });
});

describe('host → guest credit and rx on demand', () => {
  it('never sends more than the guest credit allows; a stalled reader stops the host at its high-water mark', async () => {
    const { guest, s, conn } = await pair({ guestBufAlloc: 20_000, highWaterMark: 32 * 1024 });
    let drains = 0;
    conn.attach({ drain: () => void drains++ });
    const data = pattern(2, 100_000);
    let written = 0;
    while (written < data.length && conn.write(data.subarray(written, written + 8192))) written += 8192;
    written = Math.min(written + 8192, data.length);
    await until(() => s.rxBytes === 20_000);
    // The guest reads nothing: the device stopped at its credit, the rest waits on the host side.
    expect(guest.overruns).toBe(0);
    expect(conn.peerCredit).toBe(0);
    expect(conn.buffered).toBe(written - 20_000);
    const got: Uint8Array[] = [];
    while (written < data.length || got.reduce((n, b) => n + b.length, 0) < data.length) {
      got.push(guest.read(s, 3000));
      await new Promise((r) => setImmediate(r));
      while (written < data.length && conn.buffered < 32 * 1024) {
        conn.write(data.subarray(written, written + 8192));
        written += 8192;
      }
      written = Math.min(written, data.length);
    }
    expect(Buffer.concat(got).equals(Buffer.from(data))).toBe(true);
    expect(guest.overruns).toBe(0);
    expect(drains).toBeGreaterThan(0);
    expect(conn.maxBuffered).toBeLessThan(32 * 1024 + 8192);
  });

  it('takes a receive buffer only for a packet: data waits while the guest posts none, then fills what it posts', async () => {
    const { device, guest, s, conn } = await pair();
    guest.stall(true);
    for (let i = 0; i < RX_BUFFERS + 20; i++) conn.write(new Uint8Array([i & 0xff]));
    await until(() => s.inbox.length === RX_BUFFERS);
    for (let i = 0; i < 100; i++) await new Promise((r) => setImmediate(r));
    expect(s.inbox.length).toBe(RX_BUFFERS);
    expect(conn.buffered).toBe(20);
    expect(device.connectionCount).toBe(1);
    guest.stall(false);
    await until(() => s.inbox.length === RX_BUFFERS + 20);
    expect([...guest.read(s)]).toEqual(Array.from({ length: RX_BUFFERS + 20 }, (_, i) => i & 0xff));
  });

  it('packets fit the buffers: payload = buffer - 44; a buffer too small for a header is returned empty', async () => {
    const { guest, s, conn, events } = await pair({ rxSize: HEADER_SIZE + 100 });
    conn.write(pattern(3, 1000));
    await until(() => s.rxBytes === 1000);
    expect(guest.log.filter((h) => h.op === VsockOp.RW).map((h) => h.len)).toEqual(Array(10).fill(100));
    expect(events).toEqual([]);
    const small = new LinuxVsock(new VsockDevice({ guestCid: 3, onEvent: (e) => events.push(e) }), { rxSize: 20 });
    small.device.listen(1, () => undefined);
    small.probe();
    small.stall(true); // a driver that re-posted them at once would spin on its own
    const c = small.connect(1);
    await until(() => events.length === RX_BUFFERS);
    expect(events).toEqual(Array(RX_BUFFERS).fill({ type: 'small-buffer', queue: 0, length: 20 }));
    expect(c.state).toBe('connecting'); // the RESPONSE waits for a buffer that holds it
    expect(small.driver.needsReset()).toBe(false);
  });

  it('replies owed while the guest posts no rx buffers are bounded: transmitted packets wait in the ring, then all are answered', async () => {
    const { device, guest, s, conn } = await pair();
    guest.stall(true);
    useEveryRxBuffer(conn);
    await until(() => s.inbox.length === RX_BUFFERS);
    // Packets that each need an RST, for no connection.
    for (let i = 0; i < 90; i++) expect(guest.raw({ ...guest.header(s, VsockOp.RW, 0, 0), dstPort: 10_000 + i, type: VsockType.STREAM })).toBe(true);
    await until(() => guest.txInFlight === 90 - 64);
    for (let i = 0; i < 100; i++) await new Promise((r) => setImmediate(r));
    expect(guest.txInFlight).toBe(90 - 64); // 64 replies owed; the rest held (16) or left in the ring
    guest.stall(false);
    await until(() => guest.log.filter((h) => h.op === VsockOp.RST).length === 90 && guest.txInFlight === 0);
    expect(guest.log.filter((h) => h.op === VsockOp.RST).map((h) => h.srcPort)).toEqual(Array.from({ length: 90 }, (_, i) => 10_000 + i));
    expect(device.connectionCount).toBe(1);
  });
});

/** The model's rx buffers. */
const RX_BUFFERS = 128;

/** One byte per packet until every posted rx buffer is used (the guest, stalled, posts no more). */
function useEveryRxBuffer(conn: VsockConnection): void {
  for (let i = 0; i < RX_BUFFERS; i++) conn.write(new Uint8Array([i]));
}
