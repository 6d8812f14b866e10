/**
 * The control protocol as Linux's virtio_console.c drives it, over virtio-mmio with the driver
 * model: port 0 alone, multiport with named ports, PORT_OPEN both ways, RESIZE and config
 * changes, emergency write, and bad control messages from the guest.
 */
import { describe, expect, it } from '@jest/globals';
import { BAD_ID, ConsoleDevice, ConsoleFeature, ControlEvent, encodeControl, type ConsoleEvent } from '@vmv/console';
import { LinuxConsole, until } from './support/linux-console';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

function collect(port: ReturnType<ConsoleDevice['port']>): { chunks: Uint8Array[]; text: () => string } {
  const chunks: Uint8Array[] = [];
  port.connect({ write: (data, done) => { chunks.push(data); done(); } });
  return { chunks, text: () => chunks.map(str).join('') };
}

describe.each([['split', false], ['packed', true]] as const)('%s rings', (_name, packed) => {
  it('port 0 without multiport: a console both ways, size from the config space, resize by config change', async () => {
    const device = new ConsoleDevice({ size: { cols: 80, rows: 25 } });
    const host = collect(device.port(0));
    const guest = new LinuxConsole(device, { packed, accept: [ConsoleFeature.SIZE] });
    const negotiated = guest.probe();
    expect((negotiated >> 1n) & 1n).toBe(0n);
    expect(device.queueMaxSizes.length).toBe(2);
    expect(guest.ports[0]!.size).toEqual({ cols: 80, rows: 25 });
    device.port(0).write(text('echo hi\n'));
    await until(() => guest.ports[0]!.received.length > 0);
    expect(str(guest.take(0))).toBe('echo hi\n');
    guest.write(0, text('hi\r\n'));
    await until(() => host.text() === 'hi\r\n');
    device.resize(132, 43);
    await until(() => guest.configChanges === 1);
    expect(guest.ports[0]!.size).toEqual({ cols: 132, rows: 43 });
  });

  it('multiport: DEVICE_READY → PORT_ADD per port → PORT_READY → CONSOLE_PORT / PORT_NAME / PORT_OPEN, in that order', async () => {
    const events: ConsoleEvent[] = [];
    const device = new ConsoleDevice({ ports: [{}, { name: 'org.test.a' }, { name: 'org.test.b' }], size: { cols: 100, rows: 30 }, onEvent: (e) => events.push(e) });
    collect(device.port(0));
    collect(device.port(2));
    const guest = new LinuxConsole(device, { packed });
    guest.probe();
    expect(device.queueMaxSizes.length).toBe(8);
    await until(() => guest.ports.every((p) => p.added) && guest.ports[2]!.hostOpen);
    const log = guest.controlLog.map((m) => `${m.id}:${m.event}:${m.value}`);
    expect(log).toEqual([
      '0:1:0', '1:1:0', '2:1:0',
      '0:4:1', '0:5:0', '0:6:1',
      '1:7:1',
      '2:7:1', '2:6:1',
    ]);
    expect(guest.ports.map((p) => p.name)).toEqual([undefined, 'org.test.a', 'org.test.b']);
    expect(guest.ports.map((p) => p.console)).toEqual([true, false, false]);
    expect(guest.ports[0]!.size).toEqual({ cols: 100, rows: 30 });
    expect(guest.ports[1]!.hostOpen).toBe(false);
    expect(events.filter((e) => e.type === 'port-ready').length).toBe(3);
    expect(events).toContainEqual({ type: 'guest-open', port: 0, open: true }); // CONSOLE_PORT answered with PORT_OPEN 1
    // RESIZE through the control queue with multiport, not a config change
    device.resize(120, 40);
    await until(() => guest.ports[0]!.size?.cols === 120);
    expect(guest.ports[0]!.size).toEqual({ cols: 120, rows: 40 });
    expect(guest.configChanges).toBe(0);
  });

  it('PORT_OPEN both ways: host connect/disconnect reaches the guest, guest open/close reaches the host; data waits for an open guest', async () => {
    const device = new ConsoleDevice({ ports: [{}, { name: 'org.test.data' }] });
    const guest = new LinuxConsole(device, { packed });
    guest.probe();
    await until(() => guest.ports[1]!.added);
    const opens: boolean[] = [];
    const received: Uint8Array[] = [];
    device.port(1).connect({ write: (d, done) => { received.push(d); done(); }, guestOpen: (open) => opens.push(open) });
    await until(() => guest.ports[1]!.hostOpen);
    // Host bytes before the guest opened the port wait (Linux would discard them).
    device.port(1).write(text('early'));
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    expect(guest.ports[1]!.received.length).toBe(0);
    expect(device.port(1).buffered).toBe(5);
    guest.open(1);
    await until(() => guest.ports[1]!.received.length > 0);
    expect(str(guest.take(1))).toBe('early');
    guest.write(1, text('from guest'));
    await until(() => received.length > 0);
    guest.open(1, false);
    await until(() => opens.length === 2);
    expect(opens).toEqual([true, false]);
    expect(device.port(1).guestOpen).toBe(false);
    guest.open(1, true);
    await until(() => opens.length === 3);
    device.port(1).disconnect();
    await until(() => !guest.ports[1]!.hostOpen);
  });

  it('guest bytes wait while no host end is connected, and none is lost', async () => {
    const device = new ConsoleDevice({ ports: [{}, { name: 'x' }], transmitInFlight: 2 });
    const guest = new LinuxConsole(device, { packed });
    guest.probe();
    await until(() => guest.ports[1]!.added);
    guest.open(1);
    const sent = new Uint8Array(5 * 4096).map((_, i) => (i * 7) & 0xff);
    expect(guest.write(1, sent)).toBe(sent.length);
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    const got = collect(device.port(1));
    await until(() => got.chunks.reduce((n, c) => n + c.length, 0) === sent.length);
    expect(Buffer.concat(got.chunks).equals(Buffer.from(sent))).toBe(true);
  });
});

describe('bad control messages from the guest: typed events, never an exception', () => {
  it.each([
    ['short', new Uint8Array([1, 2, 3]), { type: 'bad-control', reason: 'short', length: 3 }],
    ['unknown port', encodeControl(9, ControlEvent.PORT_OPEN, 1), { type: 'bad-control', reason: 'unknown-port', id: 9, event: 6 }],
    ['BAD_ID on PORT_READY', encodeControl(BAD_ID, ControlEvent.PORT_READY, 1), { type: 'bad-control', reason: 'unknown-port', id: BAD_ID, event: 3 }],
    ['unknown event', encodeControl(0, 42, 1), { type: 'bad-control', reason: 'unknown-event', id: 0, event: 42 }],
    ['device-only event', encodeControl(0, ControlEvent.PORT_ADD, 1), { type: 'bad-control', reason: 'unexpected-event', id: 0, event: 1 }],
    ['second DEVICE_READY', encodeControl(BAD_ID, ControlEvent.DEVICE_READY, 1), { type: 'bad-control', reason: 'duplicate', id: BAD_ID, event: 0 }],
  ])('%s', async (_name, bytes, expected) => {
    const events: ConsoleEvent[] = [];
    const device = new ConsoleDevice({ ports: [{}, { name: 'p' }], onEvent: (e) => events.push(e) });
    const guest = new LinuxConsole(device);
    guest.probe();
    await until(() => guest.ports[1]!.added);
    guest.sendControlBytes(bytes);
    await until(() => events.some((e) => e.type === 'bad-control'));
    expect(events.filter((e) => e.type === 'bad-control')).toEqual([expected]);
    expect(guest.driver.needsReset()).toBe(false);
    // The device goes on: port 1 still works.
    guest.open(1);
    device.port(1).write(text('ok'));
    await until(() => guest.ports[1]!.received.length > 0);
    expect(str(guest.take(1))).toBe('ok');
  });

  it('a guest that floods PORT_READY without taking control messages gets control-overflow events, bounded', async () => {
    const events: ConsoleEvent[] = [];
    const device = new ConsoleDevice({ ports: [{ name: 'a' }], onEvent: (e) => events.push(e) });
    const guest = new LinuxConsole(device);
    guest.probe();
    await until(() => guest.ports[0]!.added);
    guest.stall(true);
    for (let i = 0; i < 200; i++) guest.sendControl(0, ControlEvent.PORT_READY, 1);
    await until(() => events.some((e) => e.type === 'bad-control' && e.reason === 'control-overflow'));
    expect(guest.driver.needsReset()).toBe(false);
  });
});

describe('emergency write', () => {
  it('emerg_wr bytes go to port 0, before any queue is set up (the MMIO transport takes config writes from FEATURES_OK)', async () => {
    const events: ConsoleEvent[] = [];
    const device = new ConsoleDevice({ onEvent: (e) => events.push(e) });
    const guest = new LinuxConsole(device, { accept: [ConsoleFeature.EMERG_WRITE] });
    guest.driver.probe();
    guest.driver.negotiate([ConsoleFeature.EMERG_WRITE]);
    for (const c of text('pani')) guest.driver.cwrite32(8, c);
    const host = collect(device.port(0));
    guest.driver.cwrite32(8, 'c'.charCodeAt(0));
    await until(() => host.text() === 'panic');
    expect(events.filter((e) => e.type === 'emergency-write').length).toBe(5);
  });

  it('is not offered with emergencyWrite: false (and writes are ignored)', () => {
    const device = new ConsoleDevice({ emergencyWrite: false });
    expect((device.deviceFeatures >> 2n) & 1n).toBe(0n);
    const host = collect(device.port(0));
    device.writeConfig(8, new Uint8Array([65, 0, 0, 0]));
    expect(host.chunks.length).toBe(0);
  });
});

describe('config space and options', () => {
  it('reads cols, rows, max_nr_ports at any offset and width', () => {
    const device = new ConsoleDevice({ ports: [{}, {}, {}], size: { cols: 0x1234, rows: 0x5678 } });
    const all = new Uint8Array(12);
    device.readConfig(0, all);
    expect([...all]).toEqual([0x34, 0x12, 0x78, 0x56, 3, 0, 0, 0, 0, 0, 0, 0]);
    const part = new Uint8Array(3);
    device.readConfig(1, part);
    expect([...part]).toEqual([0x12, 0x78, 0x56]);
  });

  it('refuses bad options with RangeError/TypeError', () => {
    expect(() => new ConsoleDevice({ ports: [] })).toThrow(RangeError);
    expect(() => new ConsoleDevice({ ports: [{ name: 'a' }, { name: 'a' }] })).toThrow(RangeError);
    expect(() => new ConsoleDevice({ ports: [{}, {}], multiport: false })).toThrow(RangeError);
    expect(() => new ConsoleDevice({ size: { cols: 70000, rows: 1 } })).toThrow(RangeError);
    expect(() => new ConsoleDevice().resize(1, 1)).toThrow(TypeError);
    expect(() => new ConsoleDevice().port(1)).toThrow(RangeError);
    const d = new ConsoleDevice();
    d.port(0).connect({ write: (_d, done) => done() });
    expect(() => d.port(0).connect({ write: (_d, done) => done() })).toThrow(TypeError);
  });
});
