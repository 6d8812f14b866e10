import { describe, expect, it } from '@jest/globals';
import { Errno, IrqIndex, IrqSetFlags as F } from '@vmv/vfio-user';
import { qemu } from './support/client';
import { harness } from './support/harness';

const TRIGGER_FD = F.DATA_EVENTFD | F.ACTION_TRIGGER;

describe('DEVICE_SET_IRQS', () => {
  it('MSI-X: eventfds per vector, signalled by the device; de-assigned; an index disabled', () => {
    const { send, negotiate, host, device } = harness();
    negotiate();
    const fds = [host.eventfd(), host.eventfd(), host.eventfd()];
    expect(send(qemu.setIrqs(TRIGGER_FD, IrqIndex.MSIX, 2, 3), fds)!.flags).toBe(1);
    const irqs = device.ctx!.irqs;
    expect(irqs.trigger(IrqIndex.MSIX, 3)).toBe(true);
    expect(host.count(fds[1]!)).toBe(1);
    expect(irqs.trigger(IrqIndex.MSIX, 0)).toBe(false);
    expect(irqs.enabled(IrqIndex.MSIX, 2)).toBe(true);
    send(qemu.setIrqs(TRIGGER_FD, IrqIndex.MSIX, 3, 1));
    expect(host.open.has(fds[1]!)).toBe(false);
    expect(irqs.trigger(IrqIndex.MSIX, 3)).toBe(false);
    send(qemu.setIrqs(F.DATA_NONE | F.ACTION_TRIGGER, IrqIndex.MSIX, 0, 0));
    expect(host.open.size).toBe(0);
    expect(() => irqs.trigger(IrqIndex.MSIX, 8)).toThrow(RangeError);
  });

  it('INTx: level-triggered and automasked; unmasked while raised it signals again; a masked line waits', () => {
    const { send, negotiate, host, device } = harness();
    negotiate();
    const fd = host.eventfd();
    send(qemu.setIrqs(TRIGGER_FD, IrqIndex.INTX, 0, 1), [fd]);
    const irqs = device.ctx!.irqs;
    expect(irqs.trigger(IrqIndex.INTX)).toBe(true);
    expect(irqs.trigger(IrqIndex.INTX)).toBe(false);
    send(qemu.setIrqs(F.DATA_NONE | F.ACTION_UNMASK, IrqIndex.INTX, 0, 1));
    expect(host.count(fd)).toBe(2);
    irqs.lowerIntx();
    send(qemu.setIrqs(F.DATA_NONE | F.ACTION_UNMASK, IrqIndex.INTX, 0, 1));
    expect(host.count(fd)).toBe(2);
    send(qemu.setIrqs(F.DATA_BOOL | F.ACTION_MASK, IrqIndex.INTX, 0, 1, [1]));
    expect(irqs.trigger(IrqIndex.INTX)).toBe(false);
    send(qemu.setIrqs(F.DATA_BOOL | F.ACTION_UNMASK, IrqIndex.INTX, 0, 1, [0]));
    expect(host.count(fd)).toBe(2);
    send(qemu.setIrqs(F.DATA_NONE | F.ACTION_UNMASK, IrqIndex.INTX, 0, 1));
    expect(host.count(fd)).toBe(3);
  });

  it('a client trigger (DATA_NONE, DATA_BOOL) signals as the device would', () => {
    const { send, negotiate, host } = harness();
    negotiate();
    const fds = [host.eventfd(), host.eventfd()];
    send(qemu.setIrqs(TRIGGER_FD, IrqIndex.MSIX, 0, 2), fds);
    send(qemu.setIrqs(F.DATA_BOOL | F.ACTION_TRIGGER, IrqIndex.MSIX, 0, 2, [0, 1]));
    expect(fds.map((fd) => host.count(fd))).toEqual([0, 1]);
    send(qemu.setIrqs(F.DATA_NONE | F.ACTION_TRIGGER, IrqIndex.MSIX, 0, 2));
    expect(fds.map((fd) => host.count(fd))).toEqual([1, 2]);
  });

  it.each([
    ['vectors past the index', qemu.setIrqs(F.DATA_NONE | F.ACTION_TRIGGER, IrqIndex.MSIX, 7, 2), Errno.EINVAL],
    ['an index past the last', qemu.setIrqs(F.DATA_NONE | F.ACTION_TRIGGER, 5, 0, 1), Errno.EINVAL],
    ['two data types', qemu.setIrqs(F.DATA_NONE | F.DATA_BOOL | F.ACTION_TRIGGER, 0, 0, 1), Errno.EINVAL],
    ['two actions', qemu.setIrqs(F.DATA_NONE | F.ACTION_MASK | F.ACTION_TRIGGER, 0, 0, 1), Errno.EINVAL],
    ['count 0 with a mask', qemu.setIrqs(F.DATA_NONE | F.ACTION_MASK, 0, 0, 0), Errno.EINVAL],
    ['a bool array of the wrong length', qemu.setIrqs(F.DATA_BOOL | F.ACTION_TRIGGER, IrqIndex.MSIX, 0, 2, [1]), Errno.EINVAL],
    ['a bool of 2', qemu.setIrqs(F.DATA_BOOL | F.ACTION_TRIGGER, IrqIndex.MSIX, 0, 1, [2]), Errno.EINVAL],
    ['masking MSI-X', qemu.setIrqs(F.DATA_NONE | F.ACTION_MASK, IrqIndex.MSIX, 0, 1), Errno.ENOTTY],
    ['an unmask eventfd', qemu.setIrqs(F.DATA_EVENTFD | F.ACTION_UNMASK, IrqIndex.INTX, 0, 1), Errno.ENOTTY],
  ])('refuses %s', (_n, message, errno) => {
    const { send, negotiate } = harness();
    negotiate();
    expect(send(message)!.error).toBe(errno);
  });

  it('refuses fds in the wrong number or on other data types, more than max_msg_fds, and closes them', () => {
    const { send, negotiate, host } = harness({ maxMsgFds: 2 });
    negotiate();
    const fds = () => [host.eventfd(), host.eventfd()];
    expect(send(qemu.setIrqs(TRIGGER_FD, IrqIndex.MSIX, 0, 3), fds())!.error).toBe(Errno.EINVAL);
    expect(send(qemu.setIrqs(F.DATA_NONE | F.ACTION_TRIGGER, IrqIndex.MSIX, 0, 2), fds())!.error).toBe(Errno.EINVAL);
    expect(send(qemu.setIrqs(TRIGGER_FD, IrqIndex.MSIX, 0, 3), [...fds(), host.eventfd()])!.error).toBe(Errno.EINVAL);
    expect(host.open.size).toBe(0);
  });

  it('closes every eventfd when the client leaves, and a failed signal is reported, not thrown', () => {
    const { send, negotiate, host, device, session, events } = harness();
    negotiate();
    const fd = host.memfd(4096);
    send(qemu.setIrqs(TRIGGER_FD, IrqIndex.MSI, 0, 1), [fd]);
    expect(device.ctx!.irqs.trigger(IrqIndex.MSI)).toBe(false);
    expect(events.at(-1)).toMatchObject({ type: 'signal-failed', fd });
    session.close();
    expect(host.open.size).toBe(0);
    expect(host.closedTwice).toEqual([]);
  });

  it('DEVICE_RESET lowers and unmasks INTx but keeps the eventfds', async () => {
    const { send, sendAsync, negotiate, host, device } = harness();
    negotiate();
    const fd = host.eventfd();
    send(qemu.setIrqs(TRIGGER_FD, IrqIndex.INTX, 0, 1), [fd]);
    device.ctx!.irqs.trigger(IrqIndex.INTX);
    await sendAsync(qemu.reset());
    expect(device.ctx!.irqs.trigger(IrqIndex.INTX)).toBe(true);
    expect(host.count(fd)).toBe(2);
  });
});
