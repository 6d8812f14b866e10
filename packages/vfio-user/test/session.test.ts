import { describe, expect, it } from '@jest/globals';
import { Errno, IrqIndex, PciRegion, VfioUserCommand } from '@vmv/vfio-user';
import { command, le, qemu } from './support/client';
import { harness } from './support/harness';

const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('VERSION', () => {
  it('answers QEMU 11.1 with major 0, minor 0 and its own values of the proposed capabilities', () => {
    const { negotiate, session } = harness({ maxMsgFds: 8 });
    const r = negotiate();
    expect(r.flags).toBe(1);
    expect(r.command).toBe(VfioUserCommand.VERSION);
    expect(r.view.getUint16(0, true)).toBe(0);
    expect(r.view.getUint16(2, true)).toBe(0);
    expect(r.body[r.body.length - 1]).toBe(0);
    expect(JSON.parse(text(r.body.subarray(4, r.body.length - 1)))).toEqual({
      capabilities: { max_msg_fds: 8, max_data_xfer_size: 1 << 20, pgsizes: 4096, max_dma_maps: 1024 },
    });
    expect(session.negotiated).toBe(true);
  });

  it('offers only what was proposed, and nothing without JSON', () => {
    const { send } = harness();
    const r = send(qemu.version(JSON.stringify({ capabilities: { max_msg_fds: 1 } })))!;
    expect(JSON.parse(text(r.body.subarray(4, r.body.length - 1)))).toEqual({ capabilities: { max_msg_fds: 16 } });
    const bare = harness().send(command(1, le([2, 0], [2, 3])))!;
    expect(bare.flags).toBe(1);
    expect(bare.view.getUint16(2, true)).toBe(0);
  });

  it.each([
    ['another major', qemu.version(undefined, 1)],
    ['JSON without NUL', command(1, new Uint8Array([0, 0, 0, 0, 0x7b, 0x7d]))],
    ['not JSON', qemu.version('{capabilities')],
    ['an array', qemu.version('[]')],
    ['capabilities not an object', qemu.version('{"capabilities":3}')],
    ['a negative max_msg_fds', qemu.version('{"capabilities":{"max_msg_fds":-1}}')],
    ['a fractional max_data_xfer_size', qemu.version('{"capabilities":{"max_data_xfer_size":1.5}}')],
    ['migration not an object', qemu.version('{"capabilities":{"migration":true}}')],
    ['write_multiple not a boolean', qemu.version('{"capabilities":{"write_multiple":1}}')],
    ['a short payload', command(1, new Uint8Array(3))],
  ])('refuses %s with EINVAL and stays unnegotiated', (_name, message) => {
    const { send, session } = harness();
    const r = send(message)!;
    expect(r.flags).toBe(0x21);
    expect(r.error).toBe(Errno.EINVAL);
    expect(r.size).toBe(16);
    expect(session.negotiated).toBe(false);
  });

  it('refuses commands before VERSION and a second VERSION', () => {
    const { send, negotiate } = harness();
    expect(send(qemu.getInfo())!.error).toBe(Errno.EINVAL);
    negotiate();
    expect(send(qemu.version())!.error).toBe(Errno.EINVAL);
  });
});

describe('device information', () => {
  it('DEVICE_GET_INFO: a PCI device with reset, 9 regions, 5 IRQ indexes', () => {
    const { send, negotiate } = harness();
    negotiate();
    const r = send(qemu.getInfo())!;
    expect([0, 4, 8, 12].map((o) => r.view.getUint32(o, true))).toEqual([16, 3, 9, 5]);
  });

  it('DEVICE_GET_REGION_INFO: BAR0 read-write, ROM read-only, config, empty regions', () => {
    const { send, negotiate } = harness();
    negotiate();
    const info = (i: number) => {
      const r = send(qemu.regionInfo(i))!;
      return { argsz: r.view.getUint32(0, true), flags: r.view.getUint32(4, true), index: r.view.getUint32(8, true), size: r.view.getBigUint64(16, true), offset: r.view.getBigUint64(24, true) };
    };
    expect(info(0)).toEqual({ argsz: 32, flags: 3, index: 0, size: 0x1000n, offset: 0n });
    expect(info(1)).toMatchObject({ flags: 0, size: 0n });
    expect(info(PciRegion.ROM)).toMatchObject({ flags: 1, size: 0x800n, offset: 6n << 40n });
    expect(info(PciRegion.CONFIG)).toMatchObject({ flags: 3, size: 256n });
    expect(info(PciRegion.VGA)).toMatchObject({ flags: 0, size: 0n });
    expect(send(qemu.regionInfo(9))!.error).toBe(Errno.EINVAL);
    expect(send(qemu.regionInfo(0, 16))!.error).toBe(Errno.EINVAL);
  });

  it('DEVICE_GET_IRQ_INFO: counts and the flags of Linux vfio-pci', () => {
    const { send, negotiate } = harness();
    negotiate();
    const info = (i: number) => {
      const r = send(qemu.irqInfo(i))!;
      return [r.view.getUint32(4, true), r.view.getUint32(12, true)];
    };
    expect(info(IrqIndex.INTX)).toEqual([7, 1]);
    expect(info(IrqIndex.MSI)).toEqual([9, 1]);
    expect(info(IrqIndex.MSIX)).toEqual([1, 8]);
    expect(info(IrqIndex.ERR)).toEqual([9, 1]);
    expect(send(qemu.irqInfo(5))!.error).toBe(Errno.EINVAL);
  });
});

describe('region access', () => {
  it('reads and writes config space and BAR0 through the device', () => {
    const { send, negotiate, device } = harness();
    negotiate();
    const r = send(qemu.regionRead(PciRegion.CONFIG, 0, 4))!;
    expect(r.view.getBigUint64(0, true)).toBe(0n);
    expect(r.view.getUint32(8, true)).toBe(PciRegion.CONFIG);
    expect(r.view.getUint32(12, true)).toBe(4);
    expect([...r.body.subarray(16)]).toEqual([0x34, 0x12, 0x78, 0x56]);
    const w = send(qemu.regionWrite(PciRegion.BAR0, 0x10, new Uint8Array([1, 2, 3, 4])))!;
    expect(w.size).toBe(32);
    expect(w.view.getUint32(12, true)).toBe(4);
    expect([...device.bar0.subarray(0x10, 0x14)]).toEqual([1, 2, 3, 4]);
  });

  it('a posted write (No_reply) is applied without a reply; a failed one is reported, not answered', () => {
    const { send, negotiate, device, events } = harness();
    negotiate();
    expect(send(qemu.regionWrite(PciRegion.BAR0, 0, new Uint8Array([9]), true))).toBeNull();
    expect(device.bar0[0]).toBe(9);
    expect(send(qemu.regionWrite(PciRegion.BAR0, 0x1000, new Uint8Array([9]), true))).toBeNull();
    expect(events.at(-1)).toMatchObject({ type: 'command-failed', command: 'REGION_WRITE', replied: false });
  });

  it.each([
    ['past the end', qemu.regionRead(PciRegion.BAR0, 0xffe, 4), Errno.EINVAL],
    ['at a huge offset', qemu.regionRead(PciRegion.BAR0, 0xffff_ffff_ffff_fff0n, 0x20), Errno.EINVAL],
    ['an empty region', qemu.regionRead(PciRegion.BAR1, 0, 1), Errno.EINVAL],
    ['no such region', qemu.regionRead(9, 0, 1), Errno.EINVAL],
    ['a write to the ROM', qemu.regionWrite(PciRegion.ROM, 0, new Uint8Array(1)), Errno.EINVAL],
    ['more than max_data_xfer_size', qemu.regionRead(PciRegion.BAR0, 0, 0x2000), Errno.E2BIG],
    ['a write whose count is not its data', command(10, le([8, 0], [4, 0], [4, 8], [4, 0])), Errno.EINVAL],
  ])('refuses %s', (_name, message, errno) => {
    const { send, negotiate, device } = harness({ maxDataXferSize: 4096 });
    negotiate();
    const before = device.calls.length;
    expect(send(message)!.error).toBe(errno);
    expect(device.calls.length).toBe(before);
  });

  it('a device that throws is answered EIO', () => {
    const { send, negotiate, device, events } = harness();
    negotiate();
    device.failNext = true;
    expect(send(qemu.regionRead(PciRegion.CONFIG, 0, 4))!.error).toBe(Errno.EIO);
    expect(events.at(-1)).toMatchObject({ type: 'command-failed', error: { name: 'VfioUser.DeviceError' } });
  });

  it('a zero-byte access is answered without calling the device', () => {
    const { send, negotiate, device } = harness();
    negotiate();
    const before = device.calls.length;
    expect(send(qemu.regionRead(PciRegion.CONFIG, 0, 0))!.view.getUint32(12, true)).toBe(0);
    expect(device.calls.length).toBe(before);
  });
});

describe('reset and unsupported commands', () => {
  it('DEVICE_RESET waits for the device', async () => {
    const { sendAsync, negotiate, device, session, host } = harness();
    negotiate();
    let release = () => {};
    device.resetDelay = new Promise((r) => (release = r));
    const pending = session.handleMessage(qemu.reset(), []);
    expect(pending).toBeDefined();
    expect(host.sent).toHaveLength(0);
    release();
    await pending;
    expect(host.take()).toHaveLength(1);
    device.resetDelay = null;
    expect((await sendAsync(qemu.reset()))!.flags).toBe(1);
    expect(device.resets).toBe(2);
  });

  it('answers DEVICE_FEATURE ENOTTY, migration and region-fd commands ENOSYS, unknown codes ENOSYS', () => {
    const { send, negotiate } = harness();
    negotiate();
    expect(send(command(16, le([4, 8], [4, 0x10001])))!.error).toBe(Errno.ENOTTY);
    expect(send(command(6, le([4, 16], [4, 0], [4, 0], [4, 0])))!.error).toBe(Errno.ENOSYS);
    expect(send(command(17, le([4, 8], [4, 0])))!.error).toBe(Errno.ENOSYS);
    expect(send(command(15, le([8, 0])))!.error).toBe(Errno.ENOSYS);
    expect(send(command(14))!.error).toBe(Errno.ENOSYS);
    expect(send(command(999))!.error).toBe(Errno.ENOSYS);
  });

  it('refuses flags other than No_reply and an error number on a command', () => {
    const { send, negotiate } = harness();
    negotiate();
    expect(send(command(4, le([4, 16], [4, 0], [4, 0], [4, 0]), 0x40))!.error).toBe(Errno.EINVAL);
    const withError = command(4, le([4, 16], [4, 0], [4, 0], [4, 0]));
    new DataView(withError.buffer).setUint32(12, 5, true);
    expect(send(withError)!.error).toBe(Errno.EINVAL);
  });

  it('closes the fds of commands that take none', () => {
    const { send, negotiate, host } = harness();
    negotiate();
    const fd = host.eventfd();
    expect(send(qemu.getInfo(), [fd])!.error).toBe(Errno.EINVAL);
    expect(host.open.has(fd)).toBe(false);
    expect(host.closedTwice).toEqual([]);
  });

  it('ends the stream on a bad frame: a size below the header, an unknown type, a size above the limit', () => {
    const { session, host } = harness();
    const small = command(1);
    new DataView(small.buffer).setUint32(4, 8, true);
    expect(() => session.handleMessage(small, [])).toThrow(expect.objectContaining({ name: 'VfioUser.InvalidHeaderError' }));
    expect(() => session.handleMessage(command(1, new Uint8Array(4), 2), [])).toThrow(expect.objectContaining({ name: 'VfioUser.InvalidHeaderError' }));
    const big = command(10);
    new DataView(big.buffer).setUint32(4, 64 << 20, true);
    const fd = host.eventfd();
    expect(() => session.handleMessage(big, [fd])).toThrow(expect.objectContaining({ name: 'VfioUser.OversizedMessageError' }));
    expect(host.open.has(fd)).toBe(false);
  });
});
