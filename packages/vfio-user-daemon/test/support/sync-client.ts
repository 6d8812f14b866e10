/**
 * A vfio-user client on a real socket to the daemon in its own process, synchronous as QEMU's vCPU
 * is on a region access: each command is sent and its reply waited for (up to HANG_MS), so that the
 * transport's driver model (Linux's virtio_pci) can run over it through the vfio-user tests' bridge.
 * Guest RAM is a memfd mapped at DMA address 0; every MSI-X vector and INTx has a real eventfd.
 */
import { EventFd, UnixStream, closeFd, isSysError, memfdCreate, mmap } from '@vmv/sys';
import { GuestMemory } from '@vmv/memory';
import { IrqIndex, IrqSetFlags } from '@vmv/vfio-user';
import { VirtioPciDriver } from '@vmv/transport-pci/driver';
import { parse, qemu, type Reply } from '../../../vfio-user/test/support/client';
import { pciBridge } from '../../../vfio-user/test/support/pci-bridge';
import { HANG_MS } from '../../../vhost-user/test/frontend';

const pause = new Int32Array(new SharedArrayBuffer(4));
/** Sleeps 1 ms without returning to the event loop (the daemon runs in another process). */
const nap = () => void Atomics.wait(pause, 0, 0, 1);

function receive(stream: UnixStream): Reply {
  const deadline = Date.now() + HANG_MS;
  const read = (into: Uint8Array) => {
    for (let got = 0; got < into.length; ) {
      let r;
      try {
        r = stream.recvmsg(into.subarray(got));
      } catch (e) {
        if (isSysError(e, 'ECONNRESET')) throw new Error('the daemon closed the connection', { cause: e });
        throw e;
      }
      if (r !== null && r.bytesRead === 0) throw new Error('the daemon closed the connection');
      if (r !== null) got += r.bytesRead;
      else if (Date.now() > deadline) throw new Error(`no reply within ${HANG_MS} ms`);
      else nap();
    }
  };
  const head = new Uint8Array(16);
  read(head);
  const msg = new Uint8Array(new DataView(head.buffer).getUint32(4, true));
  msg.set(head);
  read(msg.subarray(16));
  return parse(msg);
}

/** Connects, negotiates, maps `ram` bytes of guest RAM and sets every eventfd. */
export function syncClient(socket: string, ram = 4 << 20) {
  const stream = UnixStream.connect(socket);
  const send = (message: Uint8Array, fds: number[] = []): Reply => {
    stream.sendmsg(message, fds);
    return receive(stream);
  };
  const check = (r: Reply, what: string) => {
    if (r.error !== 0) throw new Error(`${what}: errno ${r.error}`);
    return r;
  };
  check(send(qemu.version()), 'VERSION');
  const memfd = memfdCreate('guest-ram', ram);
  const mapping = mmap(memfd, ram, { shared: true });
  check(send(qemu.dmaMap(0n, BigInt(ram)), [memfd]), 'DMA_MAP');
  const memory = GuestMemory.fromRegions([{ start: 0, backing: mapping.buffer }]);
  const regionSize = (i: number) => Number(check(send(qemu.regionInfo(i)), 'REGION_INFO').view.getBigUint64(16, true));
  const barSizes = [0, 1, 2, 3, 4, 5].map(regionSize);
  const vectors = check(send(qemu.irqInfo(IrqIndex.MSIX)), 'IRQ_INFO').view.getUint32(12, true);
  const msix = Array.from({ length: vectors }, () => new EventFd());
  const set = IrqSetFlags.ACTION_TRIGGER | IrqSetFlags.DATA_EVENTFD;
  if (vectors > 0) check(send(qemu.setIrqs(set, IrqIndex.MSIX, 0, vectors), msix.map((e) => e.fd)), 'SET_IRQS');
  const bridge = pciBridge(send, barSizes);
  const newDriver = () => new VirtioPciDriver({ ...bridge, device: 0, memory, ringMemory: { base: 0x10_0000, size: 0x10_0000 }, barWindow: { base: 0xe000_0000, size: 0x10_0000 } });
  let driver = newDriver();
  const interrupts = new Array<number>(vectors).fill(0);
  /** Delivers the MSI-X interrupts the eventfds hold. */
  const deliver = () =>
    msix.forEach((e, v) => {
      const n = e.read();
      if (n === null || n === 0) return;
      interrupts[v]! += n;
      const m = bridge.message(v);
      if (m !== null) driver.msi(m);
    });
  return {
    send,
    memory,
    barSizes,
    interrupts,
    get driver() {
      return driver;
    },
    reprobe: () => void (driver = newDriver()),
    /** Waits (synchronously, delivering interrupts) until `cond`. */
    until(cond: () => boolean, what: string): void {
      const deadline = Date.now() + HANG_MS;
      while (!cond()) {
        deliver();
        if (cond()) return;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        nap();
      }
    },
    close(): void {
      stream.close();
      for (const e of msix) e.close();
      mapping.close();
      closeFd(memfd);
    },
  };
}
