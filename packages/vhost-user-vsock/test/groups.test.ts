/**
 * Guests of one daemon reaching each other by CID inside a group (vhost-device-vsock's `groups=`),
 * each guest the Linux transport model over its own device, as VsockService builds it: stream data
 * both ways with a stalled reader, checksummed; seqpacket messages with their boundaries and EOR;
 * a port nobody listens on refused; a guest of another group, or one that left, cannot connect.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@vmv/vhost-user/daemon';
import { ShutdownFlag } from '@vmv/vsock';
import { VsockGroups, VsockService, type VmConfig } from '@vmv/vhost-user-vsock';
import { LinuxVsock, pattern, until } from '../../vsock/test/support/linux-vsock';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const turn = () => new Promise((r) => setImmediate(r));
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function guests(specs: readonly { cid: number; groups: string[] }[]) {
  const dir = mkdtempSync(join(tmpdir(), 'vmv-vsock-groups-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const lines: string[] = [];
  const log = createLogger('test', 'debug', 'text', (t) => void lines.push(t));
  const groups = new VsockGroups();
  const out = new Map<number, { service: VsockService; guest: LinuxVsock }>();
  for (const { cid, groups: g } of specs) {
    const vm: VmConfig = { guestCid: cid, socket: join(dir, `v${cid}.sock`), udsPath: join(dir, `vm${cid}.vsock`), txBufferSize: 64 * 1024, queueSize: 256, groups: g };
    const service = await VsockService.open(vm, { vms: [vm], maxConnections: 64, seqpacket: true }, groups, log);
    cleanup.push(() => service.close());
    const guest = new LinuxVsock(service.device);
    guest.probe();
    out.set(cid, { service, guest });
  }
  return { at: (cid: number) => out.get(cid)!, lines };
}

describe('guest-to-guest inside a group', () => {
  it('stream: 2 MiB each way between CID 3 and CID 4, the reader of each stalled a while, checksummed; buffering bounded', async () => {
    const g = await guests([{ cid: 3, groups: ['a'] }, { cid: 4, groups: ['b', 'a'] }]);
    const [a, b] = [g.at(3).guest, g.at(4).guest];
    const accepted = b.listen(6000);
    const s = a.connect(6000, 'stream', 4);
    await until(() => s.state === 'open' && accepted.length === 1);
    const t = accepted[0]!;
    expect([t.peerCid, t.peerPort]).toEqual([3, s.port]);
    const up = pattern(1, 2 << 20);
    const down = pattern(2, 2 << 20);
    let [sentUp, sentDown] = [0, 0];
    for (let i = 0; i < 300; i++) {
      sentUp += a.send(s, up.subarray(sentUp));
      sentDown += b.send(t, down.subarray(sentDown));
      await turn();
    }
    expect(sentUp).toBeLessThan(up.length); // nobody read: held back by credit, not buffered without end
    expect(sentDown).toBeLessThan(down.length);
    for (const { service } of [g.at(3), g.at(4)]) expect(service.device.connectionCount).toBe(1);
    const gotUp: Uint8Array[] = [];
    const gotDown: Uint8Array[] = [];
    let [nUp, nDown] = [0, 0];
    await until(() => {
      sentUp += a.send(s, up.subarray(sentUp));
      sentDown += b.send(t, down.subarray(sentDown));
      const u = b.read(t);
      const d = a.read(s);
      gotUp.push(u);
      gotDown.push(d);
      nUp += u.length;
      nDown += d.length;
      return nUp === up.length && nDown === down.length;
    }, 2_000_000);
    expect(sha(Buffer.concat(gotUp))).toBe(sha(up));
    expect(sha(Buffer.concat(gotDown))).toBe(sha(down));
    expect(a.overruns + b.overruns).toBe(0);
  }, 120_000);

  it('seqpacket: 200 messages of 1 B..64 KiB each way keep their boundaries and EOR', async () => {
    const g = await guests([{ cid: 3, groups: ['a'] }, { cid: 4, groups: ['a'] }]);
    const [a, b] = [g.at(3).guest, g.at(4).guest];
    const accepted = b.listen(6001);
    const s = a.connect(6001, 'seqpacket', 4);
    await until(() => s.state === 'open' && accepted.length === 1);
    const t = accepted[0]!;
    const sizes = Array.from({ length: 200 }, (_, i) => 1 + ((i * 7919) % (64 * 1024)));
    const messages = sizes.map((n, i) => pattern(100 + i, n));
    let [i, j] = [0, 0];
    const atB: { data: Uint8Array; eor: boolean }[] = [];
    const atA: { data: Uint8Array; eor: boolean }[] = [];
    await until(() => {
      if (i < messages.length && a.send(s, messages[i]!, i % 3 === 0) > 0) i++;
      if (j < messages.length && b.send(t, messages[j]!, j % 3 === 0) > 0) j++;
      for (let m = b.readMessage(t); m !== null; m = b.readMessage(t)) atB.push(m);
      for (let m = a.readMessage(s); m !== null; m = a.readMessage(s)) atA.push(m);
      return atB.length === messages.length && atA.length === messages.length;
    }, 2_000_000);
    for (const got of [atB, atA]) {
      expect(got.map((m) => m.data.length)).toEqual(sizes);
      expect(got.map((m) => sha(m.data))).toEqual(messages.map(sha));
      expect(got.map((m) => m.eor)).toEqual(sizes.map((_, k) => k % 3 === 0));
    }
  }, 120_000);

  it('a half-close passes through: the reply still arrives after the asker shut its sending side', async () => {
    const g = await guests([{ cid: 3, groups: ['a'] }, { cid: 4, groups: ['a'] }]);
    const [a, b] = [g.at(3).guest, g.at(4).guest];
    const accepted = b.listen(6002);
    const s = a.connect(6002, 'stream', 4);
    await until(() => s.state === 'open' && accepted.length === 1);
    const t = accepted[0]!;
    a.send(s, pattern(3, 1000));
    a.shutdown(s, ShutdownFlag.SEND);
    await until(() => t.peerShutdown === ShutdownFlag.SEND && t.inbox.length > 0);
    expect(sha(b.read(t))).toBe(sha(pattern(3, 1000)));
    b.send(t, pattern(4, 500));
    await until(() => s.inbox.length > 0);
    expect(sha(a.read(s))).toBe(sha(pattern(4, 500)));
  });

  it('refused: a port nobody listens on in the other guest; a guest of another group; a guest that left', async () => {
    const g = await guests([{ cid: 3, groups: ['a'] }, { cid: 4, groups: ['a'] }, { cid: 5, groups: ['c'] }]);
    const [a, c] = [g.at(3).guest, g.at(5).guest];
    g.at(4).guest.listen(6000);
    const nobody = a.connect(7000, 'stream', 4);
    const across = c.connect(6000, 'stream', 4);
    await until(() => nobody.state === 'closed' && across.state === 'closed');
    expect([nobody.closeReason, across.closeReason]).toEqual(['refused', 'refused']);
    await g.at(4).service.close();
    const left = a.connect(6000, 'stream', 4);
    await until(() => left.state === 'closed');
    expect(left.closeReason).toBe('refused');
  });
});
