import { describe, expect, it } from '@jest/globals';
import { Errno, isVfioUserError } from '@vmv/vfio-user';
import { parse, qemu } from './support/client';
import { harness } from './support/harness';

const rejection = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e);

describe('DMA_MAP and DMA_UNMAP', () => {
  it('maps a window from its fd into the device memory and closes the fd', () => {
    const { send, negotiate, host, device, events } = harness();
    negotiate();
    const fd = host.memfd(0x10000);
    expect(send(qemu.dmaMap(0x10_0000n, 0x10000n), [fd])!.flags).toBe(1);
    expect(host.open.has(fd)).toBe(false);
    const memory = device.ctx!.dma.memory!;
    memory.writeU32(0x10_0010, 0xdeadbeef);
    expect(new DataView((host.files.get(fd) as { buffer: ArrayBuffer }).buffer).getUint32(0x10, true)).toBe(0xdeadbeef);
    expect(events.at(-1)).toMatchObject({ type: 'dma-mapped', fd: true });
  });

  it('answers DMA_UNMAP with the request entry and releases the mapping', () => {
    const { send, negotiate, host, device } = harness();
    negotiate();
    send(qemu.dmaMap(0x10_0000n, 0x10000n), [host.memfd(0x10000)]);
    const r = send(qemu.dmaUnmap(0x10_0000n, 0x10000n))!;
    expect(r.size).toBe(40);
    expect(r.view.getBigUint64(8, true)).toBe(0x10_0000n);
    expect(host.mappings[0]!.released).toBe(true);
    expect(device.ctx!.dma.memory).toBeNull();
  });

  it.each([
    ['an overlap', 0x10_8000n, 0x1000n, 3, Errno.EEXIST],
    ['an unaligned address', 0x20_0800n, 0x1000n, 3, Errno.EINVAL],
    ['an empty window', 0x30_0000n, 0n, 3, Errno.EINVAL],
    ['a window past 2^64', 0xffff_ffff_ffff_f000n, 0x2000n, 3, Errno.EINVAL],
    ['a window without READ', 0x30_0000n, 0x1000n, 2, Errno.EINVAL],
    ['unknown flags', 0x30_0000n, 0x1000n, 7, Errno.EINVAL],
  ])('refuses %s', (_n, iova, size, flags, errno) => {
    const { send, negotiate } = harness();
    negotiate();
    send(qemu.dmaMap(0x10_0000n, 0x10000n));
    expect(send(qemu.dmaMap(iova, size, flags))!.error).toBe(errno);
  });

  it('refuses a second fd, an fd that does not map, more windows than max_dma_maps, and an unknown unmap', () => {
    const { send, negotiate, host } = harness({ maxDmaMaps: 2 });
    negotiate();
    const [a, b] = [host.memfd(0x1000), host.memfd(0x1000)];
    expect(send(qemu.dmaMap(0n, 0x1000n), [a, b])!.error).toBe(Errno.EINVAL);
    expect(send(qemu.dmaMap(0n, 0x2000n), [host.memfd(0x1000)])!.error).toBe(22);
    expect(send(qemu.dmaMap(0n, 0x1000n))!.flags).toBe(1);
    expect(send(qemu.dmaMap(0x1000n, 0x1000n))!.flags).toBe(1);
    expect(send(qemu.dmaMap(0x2000n, 0x1000n))!.error).toBe(Errno.ENOSPC);
    expect(send(qemu.dmaUnmap(0n, 0x2000n))!.error).toBe(Errno.ENOENT);
    expect(send(qemu.dmaUnmap(0n, 0n, 2))!.flags).toBe(1);
    expect(send(qemu.dmaMap(0x2000n, 0x1000n))!.flags).toBe(1);
    expect(send(qemu.dmaUnmap(0n, 0x1000n, 1))!.error).toBe(Errno.EINVAL);
    expect(host.open.size).toBe(0);
    expect(host.closedTwice).toEqual([]);
  });
});

describe('the device DMA view', () => {
  it('reads and writes fd-mapped windows directly; a read-only window refuses writes; unmapped memory is a DMA fault', async () => {
    const { send, negotiate, host, device } = harness();
    negotiate();
    send(qemu.dmaMap(0x1000n, 0x1000n), [host.memfd(0x1000)]);
    send(qemu.dmaMap(0x2000n, 0x1000n, 1), [host.memfd(0x1000)]);
    const dma = device.ctx!.dma;
    await dma.write(0x1ff0, new Uint8Array([1, 2, 3]));
    expect([...(await dma.read(0x1ff0, 3))]).toEqual([1, 2, 3]);
    expect(await dma.read(0x2000, 4)).toEqual(new Uint8Array(4));
    for (const p of [dma.write(0x2000, new Uint8Array(1)), dma.read(0x3000, 1), dma.read(0x1ff0, 0x20)]) {
      const e = await rejection(p);
      expect(isVfioUserError(e, 'VfioUser.DmaFaultError')).toBe(true);
    }
    await expect(dma.read(0x1000, -1)).rejects.toThrow(RangeError);
  });

  it('reaches windows without an fd with DMA_READ / DMA_WRITE (address u64, count u64, data), in chunks of the client limit', async () => {
    const { send, session, host, device } = harness();
    send(qemu.version(JSON.stringify({ capabilities: { max_data_xfer_size: 4096 } })));
    send(qemu.dmaMap(0xf_0000n, 0x1_0000n));
    const rom = new Uint8Array(0x1_0000).map((_, i) => i & 0xff);
    const reading = device.ctx!.dma.read(0xf_0ff0, 0x1020);
    for (let i = 0; i < 2; i++) {
      await Promise.resolve();
      const [req] = host.take();
      const r = parse(req!);
      expect(r.command).toBe(11);
      expect(r.size).toBe(32);
      session.handleMessage(qemu.dmaReadReply(req!, rom, 0xf_0000), []);
    }
    expect(await reading).toEqual(rom.subarray(0xff0, 0x2010));
    const writing = device.ctx!.dma.write(0xf_0100, new Uint8Array([7, 8, 9]));
    await Promise.resolve();
    const [w] = host.take();
    expect(parse(w!).size).toBe(32 + 3);
    session.handleMessage(qemu.dmaWriteReply(w!, rom, 0xf_0000), []);
    await writing;
    expect([...rom.subarray(0x100, 0x103)]).toEqual([7, 8, 9]);
  });

  it('fails a DMA request the client refuses, does not answer, or answers wrongly, and when it leaves', async () => {
    const { send, negotiate, session, host, device, events } = harness({ dmaTimeoutMs: 20 });
    negotiate();
    send(qemu.dmaMap(0n, 0x1000n));
    const dma = device.ctx!.dma;
    const refused = dma.read(0, 4);
    session.handleMessage(qemu.errorReply(host.take()[0]!, Errno.EFAULT), []);
    expect(await rejection(refused)).toMatchObject({ name: 'VfioUser.RequestRejectedError', errno: Errno.EFAULT });
    expect(await rejection(dma.read(0, 4))).toMatchObject({ name: 'VfioUser.DmaTimeoutError' });
    host.take();
    const short = dma.read(0, 4);
    const req = host.take()[0]!;
    session.handleMessage(qemu.dmaReadReply(req, new Uint8Array(0x1000)).subarray(0, 34).map((b, i) => (i === 4 ? 34 : b)), []);
    expect(await rejection(short)).toMatchObject({ name: 'VfioUser.InvalidReplyError' });
    session.handleMessage(qemu.dmaReadReply(req, new Uint8Array(0x1000)), []);
    expect(events.at(-1)).toMatchObject({ type: 'stray-reply' });
    const left = dma.write(0, new Uint8Array(1));
    session.close();
    expect(await rejection(left)).toMatchObject({ name: 'VfioUser.DisconnectedError' });
    expect(await rejection(dma.read(0, 1))).toMatchObject({ name: 'VfioUser.DisconnectedError' });
  });

  it('unmaps everything when the client leaves', () => {
    const { send, negotiate, session, host, device } = harness();
    negotiate();
    send(qemu.dmaMap(0n, 0x1000n), [host.memfd(0x1000)]);
    session.close();
    expect(host.mappings[0]!.released).toBe(true);
    expect(device.calls.at(-1)).toBe('detach');
  });
});
