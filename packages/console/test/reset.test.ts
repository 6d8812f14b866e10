/**
 * Hostile rings and resets: a corrupted ring is DEVICE_NEEDS_RESET (never an exception); a reset
 * while the host still holds a guest buffer (its `done` late) and while host bytes wait loses
 * nothing the host wrote and writes no guest memory afterwards; the next activation works; the
 * ports' protocol state outlives a reset until the next driver's DEVICE_READY starts over.
 */
import { describe, expect, it } from '@jest/globals';
import { ConsoleDevice, ControlEvent, type ConsoleEvent } from '@vmv/console';
import { LinuxConsole, until } from './support/linux-console';

describe('hostile rings and resets', () => {
  it('a moved available index is DEVICE_NEEDS_RESET', async () => {
    const device = new ConsoleDevice({ ports: [{}, { name: 'x' }] });
    const guest = new LinuxConsole(device);
    guest.probe();
    await until(() => guest.ports[1]!.added);
    const q = guest.ports[1]!.txQueue!;
    guest.memory.writeU16(q.driverArea + 2, 1000);
    q.notify();
    await until(() => guest.driver.needsReset());
  });

  it('a reset with a guest buffer held by the host and host bytes waiting: late done is harmless, host bytes reach the next driver', async () => {
    const device = new ConsoleDevice({ ports: [{}, { name: 'x' }], transmitInFlight: 1 });
    const held: (() => void)[] = [];
    const got: Uint8Array[] = [];
    device.port(1).connect({ write: (d, done) => { got.push(d); held.push(done); } });
    let guest = new LinuxConsole(device);
    guest.probe();
    await until(() => guest.ports[1]!.added);
    guest.open(1);
    guest.write(1, new Uint8Array(3 * 4096).fill(7));
    await until(() => held.length === 1);
    guest.open(1, false); // the guest's end closed: host bytes wait in the device
    await until(() => !device.port(1).guestOpen);
    device.port(1).write(new TextEncoder().encode('kept'));
    const page = guest.memory.readU8(0x40_0000);
    guest.driver.reset();
    held.splice(0).forEach((f) => f()); // late: the chain belongs to a reset queue
    expect(guest.memory.readU8(0x40_0000)).toBe(page);
    guest = new LinuxConsole(device);
    guest.probe();
    await until(() => guest.ports[1]!.added);
    guest.open(1);
    await until(() => guest.ports[1]!.received.length > 0);
    expect(new TextDecoder().decode(guest.take(1))).toBe('kept');
    guest.write(1, new TextEncoder().encode('again'));
    await until(() => held.length === 1);
    held.splice(0).forEach((f) => f());
    expect(new TextDecoder().decode(got[got.length - 1])).toBe('again');
    expect(guest.driver.needsReset()).toBe(false);
  });

  it('after a reset the ports stay as they were until a driver sends DEVICE_READY, which starts the handshake over', async () => {
    const events: ConsoleEvent[] = [];
    const device = new ConsoleDevice({ ports: [{}, { name: 'x' }], onEvent: (e) => events.push(e) });
    device.port(1).connect({ write: (_d, done) => done() });
    let guest = new LinuxConsole(device);
    guest.probe();
    await until(() => guest.ports[1]!.added && device.port(0).guestOpen);
    guest.open(1);
    await until(() => device.port(1).guestOpen);
    guest.driver.reset(); // as vhost-user's stop of every ring looks to the device
    expect([device.port(0).guestOpen, device.port(1).guestOpen]).toEqual([true, true]);
    events.length = 0;
    guest = new LinuxConsole(device); // a new driver: DEVICE_READY first
    guest.probe();
    await until(() => guest.ports.every((p) => p.added) && device.port(0).guestOpen);
    expect(events.slice(0, 3)).toEqual([{ type: 'device-ready', ok: true }, { type: 'guest-open', port: 0, open: false }, { type: 'guest-open', port: 1, open: false }]);
    expect(guest.controlLog.filter((m) => m.event === ControlEvent.PORT_ADD).map((m) => m.id)).toEqual([0, 1]);
    expect(device.port(1).guestOpen).toBe(false); // until this driver opens it
    device.port(1).write(new TextEncoder().encode('for the new driver'));
    guest.open(1);
    await until(() => guest.ports[1]!.received.length > 0);
    expect(new TextDecoder().decode(guest.take(1))).toBe('for the new driver');
    expect(events.some((e) => e.type === 'bad-control')).toBe(false);
  });
});
