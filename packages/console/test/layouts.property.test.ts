/**
 * Any descriptor layout: buffers split into descriptors at arbitrary byte boundaries, direct or
 * indirect, split or packed rings: the control handshake and data both ways come out the same.
 * And arbitrary control bytes from the guest: a typed event at most, never an exception.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ConsoleDevice, ControlEvent, decodeControl, encodeControl, type ConsoleEvent } from '@vmv/console';
import { LinuxConsole, concat, until } from './support/linux-console';

describe('descriptor layouts', () => {
  it('handshake and data both ways, buffers split at any byte boundary', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        fc.option(fc.constantFrom(8, 16), { nil: undefined }),
        fc.uint8Array({ minLength: 1, maxLength: 9000 }),
        fc.uint8Array({ minLength: 1, maxLength: 9000 }),
        async (split, packed, indirect, down, up) => {
          const device = new ConsoleDevice({ ports: [{}, { name: 'layout.port' }] });
          const received: Uint8Array[] = [];
          device.port(1).connect({ write: (d, done) => { received.push(d); done(); } });
          const guest = new LinuxConsole(device, { packed, split, indirect });
          guest.probe();
          await until(() => guest.ports[1]!.hostOpen && guest.ports[1]!.name === 'layout.port');
          guest.open(1);
          device.port(1).write(down);
          let got: Uint8Array = new Uint8Array(0);
          await until(() => (got = concat([got, guest.take(1)])).length >= down.length);
          expect(Buffer.from(got).equals(Buffer.from(down))).toBe(true);
          let sent = 0;
          await until(() => {
            if (sent < up.length) sent += guest.write(1, up.subarray(sent));
            return concat(received).length >= up.length;
          });
          expect(Buffer.from(concat(received)).equals(Buffer.from(up))).toBe(true);
          expect(guest.driver.needsReset()).toBe(false);
        },
      ),
      { numRuns: 40, seed: 7 },
    );
  }, 300_000);
});

describe('control bytes from the guest', () => {
  it('decodeControl never throws and round-trips encodeControl', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const d = decodeControl(bytes);
        if (bytes.length < 8) expect(d).toEqual({ ok: false, reason: 'short', length: bytes.length });
        else if (d.ok) expect(encodeControl(d.message.id, d.message.event, d.message.value, d.message.data)).toEqual(bytes);
        else throw new Error('8 bytes or more must decode');
      }),
    );
  });

  it('any control message sequence: typed events only, the device keeps serving', async () => {
    const message = fc.oneof(
      fc.uint8Array({ maxLength: 12 }),
      fc.tuple(fc.constantFrom(0, 1, 2, 3, 0xffffffff, 7), fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 3 })).map(([id, ev, v]) => encodeControl(id, ev, v)),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(message, { maxLength: 12 }), async (messages) => {
        const events: ConsoleEvent[] = [];
        const device = new ConsoleDevice({ ports: [{}, { name: 'p1' }, { name: 'p2' }], onEvent: (e) => events.push(e) });
        const guest = new LinuxConsole(device);
        guest.probe();
        await until(() => guest.ports.every((p) => p.added));
        for (const m of messages) guest.sendControlBytes(m);
        guest.sendControl(2, ControlEvent.PORT_OPEN, 1);
        await until(() => device.port(2).guestOpen);
        device.port(2).write(new Uint8Array([1, 2, 3]));
        await until(() => guest.ports[2]!.received.length > 0);
        expect(guest.driver.needsReset()).toBe(false);
        for (const e of events) expect(['device-ready', 'port-ready', 'guest-open', 'bad-control']).toContain(e.type);
      }),
      { numRuns: 60, seed: 11 },
    );
  }, 300_000);
});
