/**
 * SEQPACKET (§5.10.6.7): message boundaries (EOM) and record boundaries (EOR) kept both ways,
 * messages split over several packets and buffers, empty messages; a message that can never fit
 * the receive buffer resets the connection.
 */
import { expect, it } from '@jest/globals';
import { SeqFlag, VsockDevice, VsockOp, type Boundaries, type VsockConnection } from '@vmv/vsock';
import { LinuxVsock, pattern, until } from './support/linux-vsock';

it('boundaries and EOR both ways, messages of 0..20000 bytes over 1000-byte packets and buffers', async () => {
  const device = new VsockDevice({ guestCid: 3 });
  let conn!: VsockConnection;
  const got: { data: Uint8Array; b: Boundaries }[] = [];
  device.listen(1, (c) => {
    conn = c;
    c.attach({ data: (data, b) => void got.push({ data, b }) });
  });
  const guest = new LinuxVsock(device, { maxPacket: 1000, rxSize: 1044 });
  guest.probe();
  const s = guest.connect(1, 'seqpacket');
  await until(() => s.state === 'open');
  const sizes = [0, 1, 999, 1000, 1001, 20000, 7];
  for (const [i, n] of sizes.entries()) expect(guest.send(s, pattern(i, n), i % 2 === 1)).toBe(n);
  await until(() => got.length === sizes.length);
  for (const [i, n] of sizes.entries()) {
    expect(Buffer.from(got[i]!.data).equals(Buffer.from(pattern(i, n)))).toBe(true);
    expect(got[i]!.b).toEqual({ eom: true, eor: i % 2 === 1 });
  }
  for (const [i, n] of sizes.entries()) conn.write(pattern(100 + i, n), { eor: i % 3 === 0 });
  const back: { data: Uint8Array; eor: boolean }[] = [];
  await until(() => {
    for (let m = guest.readMessage(s); m; m = guest.readMessage(s)) back.push(m);
    return back.length === sizes.length;
  });
  for (const [i, n] of sizes.entries()) {
    expect(Buffer.from(back[i]!.data).equals(Buffer.from(pattern(100 + i, n)))).toBe(true);
    expect(back[i]!.eor).toBe(i % 3 === 0);
  }
  const rw = guest.log.filter((h) => h.op === VsockOp.RW);
  expect(rw.filter((h) => h.flags & SeqFlag.EOM)).toHaveLength(sizes.length);
  expect(Math.max(...rw.map((h) => h.len))).toBe(1000);
  expect(guest.overruns).toBe(0);
});

it('a message longer than the receive buffer resets the connection; a host message longer than the guest buffer is refused', async () => {
  const device = new VsockDevice({ guestCid: 3, bufAlloc: 4096 });
  let conn!: VsockConnection;
  device.listen(1, (c) => (conn = c));
  const guest = new LinuxVsock(device, { bufAlloc: 8192 });
  guest.probe();
  const s = guest.connect(1, 'seqpacket');
  await until(() => s.state === 'open');
  expect(() => conn.write(new Uint8Array(8193))).toThrow(RangeError);
  guest.raw(guest.header(s, VsockOp.RW, 0, 4096), new Uint8Array(4096)); // no EOM, all the credit
  await until(() => s.state === 'closed');
  expect(conn.closeReason).toBe('message-too-long');
});
