/**
 * Receive buffers (a port's receiveq, the control receiveq) are the guest's until there is
 * something to put in them: the device pops one only with host bytes or a control message ready
 * and returns it in the same turn, so a ring stopped at any moment holds none of them in flight.
 */
import { describe, expect, it } from '@jest/globals';
import type { ActivationContext } from '@vmv/device-trait';
import { ConsoleDevice, receiveQueueOf } from '@vmv/console';
import { LinuxConsole, until } from './support/linux-console';

const text = (s: string) => new TextEncoder().encode(s);

/** Counts the buffers the device pops from each queue (of every activation). */
function countPops(device: ConsoleDevice): number[] {
  const pops: number[] = [];
  const activate = device.activate.bind(device);
  device.activate = (ctx: ActivationContext) => {
    ctx.queues.forEach((q, i) => {
      if (q === null) return;
      const pop = q.pop.bind(q);
      q.pop = () => {
        const chain = pop();
        if (chain !== null) pops[i] = (pops[i] ?? 0) + 1;
        return chain;
      };
    });
    activate(ctx);
  };
  return pops;
}

describe.each([['split', false], ['packed', true]] as const)('%s rings', (_name, packed) => {
  it('with no host bytes no receive buffer is taken; each write takes only the buffers it fills', async () => {
    const device = new ConsoleDevice({ ports: [{}, { name: 'org.test.rx' }] });
    const pops = countPops(device);
    device.port(1).connect({ write: (_d, done) => done() });
    const guest = new LinuxConsole(device, { packed });
    guest.probe();
    await until(() => guest.ports.every((p) => p.added) && guest.ports[1]!.hostOpen);
    guest.open(1);
    await until(() => device.port(0).guestOpen && device.port(1).guestOpen);
    const taken = () => [pops[receiveQueueOf(0)] ?? 0, pops[receiveQueueOf(1)] ?? 0, pops[2] ?? 0];
    // The guest filled both receive rings; the device took nothing from them.
    expect(guest.ports[1]!.queue!.ring.numFree).toBe(0);
    // The control receiveq: one buffer per control message sent, none more.
    expect(taken()).toEqual([0, 0, guest.controlLog.length]);
    device.port(1).write(text('one'));
    await until(() => guest.ports[1]!.received.length === 1);
    expect(new TextDecoder().decode(guest.take(1))).toBe('one');
    expect(taken()).toEqual([0, 1, guest.controlLog.length]);
    device.port(1).write(new Uint8Array(4096 + 1).fill(9)); // a page and a byte: two buffers
    await until(() => guest.ports[1]!.received.length === 2);
    expect(guest.take(1).length).toBe(4097);
    expect(taken()[1]).toBe(3);
    for (let i = 0; i < 100; i++) await new Promise((r) => setImmediate(r));
    expect(taken()).toEqual([0, 3, guest.controlLog.length]);
  });

  it('host bytes that wait for an empty ring go into the first buffer the guest posts', async () => {
    const device = new ConsoleDevice();
    const guest = new LinuxConsole(device, { packed });
    guest.stall(true);
    guest.probe();
    device.port(0).write(new Uint8Array(128 * 4096 + 5).fill(1)); // a full ring and 5 bytes more
    await until(() => guest.ports[0]!.received.length === 128);
    expect(device.port(0).buffered).toBe(5);
    guest.stall(false);
    await until(() => device.port(0).buffered === 0);
    expect(guest.take(0).length).toBe(128 * 4096 + 5);
  });
});
