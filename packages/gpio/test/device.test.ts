import { describe, expect, it } from '@jest/globals';
import { GpioChip, GpioDevice, GpioDirection, GpioIrqStatus, GpioIrqType, GpioMsg, GpioStatus } from '@vmv/gpio';
import type { GpioLineEvent } from '@vmv/gpio';
import { SplitDriver } from '@vmv/queue/driver';
import { Harness, flush } from './support/harness';

const { OK, ERR } = GpioStatus;

describe('identity and config (§5.18.1-§5.18.4)', () => {
  it('is device 41 with requestq and eventq, VIRTIO_GPIO_F_IRQ offered, ngpio and gpio_names_size in the config', () => {
    const device = new GpioDevice({ chip: new GpioChip(['MMC-CD', '', 'Red LED Vdd']) });
    expect(device.deviceId).toBe(41);
    expect(device.queueMaxSizes).toEqual([256, 256]);
    expect(device.deviceFeatures & 1n).toBe(1n);
    const cfg = new Uint8Array(8);
    device.readConfig(0, cfg);
    expect([...cfg]).toEqual([3, 0, 0, 0, 7 + 1 + 12, 0, 0, 0]);
    device.writeConfig();
    device.readConfig(0, cfg);
    expect(cfg[0]).toBe(3);
    expect(new GpioDevice({ chip: new GpioChip(2), irq: false }).deviceFeatures & 1n).toBe(0n);
  });

  it('a chip without names has gpio_names_size 0, and GET_LINE_NAMES answers ERR', () => {
    const h = new Harness({ chip: new GpioChip(4) });
    const cfg = new Uint8Array(8);
    h.device.readConfig(0, cfg);
    expect([...cfg]).toEqual([4, 0, 0, 0, 0, 0, 0, 0]);
    expect(h.names(0).bytes[0]).toBe(ERR);
  });

  it('refuses chip descriptions a guest could not read', () => {
    expect(() => new GpioChip(0)).toThrow(RangeError);
    expect(() => new GpioChip(65536)).toThrow(RangeError);
    expect(() => new GpioChip(['a', 'a'])).toThrow(/used twice/);
    expect(() => new GpioChip(['é'])).toThrow(/7-bit/);
    expect(() => new GpioChip(['a\0b'])).toThrow(/NUL/);
    expect(() => new GpioChip([{ pull: 'sideways' as 'up' }])).toThrow(RangeError);
    const chip = new GpioChip(1);
    new GpioDevice({ chip });
    expect(() => new GpioDevice({ chip })).toThrow(/another device/);
    expect(() => new GpioDevice({ chip: new GpioChip(1), queueSize: 0 })).toThrow(RangeError);
  });
});

describe('requestq (§5.18.6)', () => {
  it('GET_LINE_NAMES: the names block after OK, used length 1 + gpio_names_size, as Linux checks it', () => {
    const h = new Harness();
    const u = h.names(h.chip.namesBlock.length);
    expect(u.len).toBe(1 + 9);
    expect([...u.bytes]).toEqual([OK, 0x61, 0, 0x62, 0, 0, 0x6c, 0x65, 0x64, 0]);
  });

  it('GET_LINE_NAMES: a line, a value or a response too short for the block is ERR', () => {
    const h = new Harness();
    expect(h.request(GpioMsg.GET_LINE_NAMES, 1, 0, 9).bytes[0]).toBe(ERR);
    expect(h.request(GpioMsg.GET_LINE_NAMES, 0, 1, 9).bytes[0]).toBe(ERR);
    const short = h.request(GpioMsg.GET_LINE_NAMES, 0, 0, 8);
    expect([short.len, short.bytes[0], short.bytes[1]]).toEqual([2, ERR, 0]);
  });

  it('SET_VALUE then SET_DIRECTION OUT (Linux direction_output) drives the line; the host hears it once', () => {
    const h = new Harness();
    const seen: GpioLineEvent[] = [];
    h.chip.onChange((e) => seen.push(e));
    expect(h.msg(GpioMsg.SET_VALUE, 3, 1)).toEqual([OK, 0]);
    expect(seen).toEqual([]);
    expect(h.msg(GpioMsg.SET_DIRECTION, 3, GpioDirection.OUT)).toEqual([OK, 0]);
    expect(seen).toEqual([{ kind: 'direction', line: 3, direction: GpioDirection.OUT }, { kind: 'output', line: 3, value: 1 }]);
    expect(h.msg(GpioMsg.GET_DIRECTION, 3)).toEqual([OK, GpioDirection.OUT]);
    expect(h.msg(GpioMsg.GET_VALUE, 3)).toEqual([OK, 1]);
    expect(h.msg(GpioMsg.SET_VALUE, 3, 0)).toEqual([OK, 0]);
    expect(h.msg(GpioMsg.SET_VALUE, 3, 0)).toEqual([OK, 0]);
    expect(seen.slice(2)).toEqual([{ kind: 'output', line: 3, value: 0 }]);
    expect(h.chip.line(3)).toMatchObject({ direction: GpioDirection.OUT, value: 0, output: 0 });
  });

  it('GET_VALUE of an input: what the host drives, else the pull', () => {
    const h = new Harness();
    expect(h.msg(GpioMsg.SET_DIRECTION, 0, GpioDirection.IN)).toEqual([OK, 0]);
    expect(h.msg(GpioMsg.GET_VALUE, 0)).toEqual([OK, 0]);
    expect(h.msg(GpioMsg.GET_VALUE, 1)).toEqual([OK, 1]); // pulled up
    void h.chip.setInput(0, 1);
    void h.chip.setInput(1, 0);
    expect(h.msg(GpioMsg.GET_VALUE, 0)).toEqual([OK, 1]);
    expect(h.msg(GpioMsg.GET_VALUE, 1)).toEqual([OK, 0]);
    void h.chip.setInput(1, null);
    expect(h.msg(GpioMsg.GET_VALUE, 1)).toEqual([OK, 1]);
    expect(h.msg(GpioMsg.GET_DIRECTION, 0)).toEqual([OK, GpioDirection.IN]);
    expect(h.msg(GpioMsg.GET_DIRECTION, 2)).toEqual([OK, GpioDirection.NONE]);
  });

  it('SET_DIRECTION NONE discards the line: output value, interrupt, latched edge', async () => {
    const h = new Harness();
    h.msg(GpioMsg.SET_VALUE, 0, 1);
    h.msg(GpioMsg.SET_DIRECTION, 0, GpioDirection.IN);
    h.msg(GpioMsg.SET_IRQ_TYPE, 0, GpioIrqType.EDGE_RISING);
    const edge = h.chip.setInput(0, 1); // masked: latched
    expect(h.chip.line(0).latched).toBe(true);
    expect(h.msg(GpioMsg.SET_DIRECTION, 0, GpioDirection.NONE)).toEqual([OK, 0]);
    await expect(edge).resolves.toBe('discarded');
    expect(h.chip.line(0)).toMatchObject({ direction: GpioDirection.NONE, output: 0, irqType: GpioIrqType.NONE, latched: false });
  });

  it.each([
    ['an unknown type', 0, 0, 0],
    ['an unknown type', 7, 0, 0],
    ['an unknown type', 0xffff, 0, 0],
    ['a line past ngpio', GpioMsg.GET_VALUE, 4, 0],
    ['a line past ngpio', GpioMsg.SET_DIRECTION, 0xffff, 2],
    ['a direction that does not exist', GpioMsg.SET_DIRECTION, 0, 3],
    ['a value other than 0 and 1', GpioMsg.SET_VALUE, 0, 2],
    ['a value other than 0 and 1', GpioMsg.SET_VALUE, 0, 0x1_0000],
    ['a non-zero value for GET_DIRECTION', GpioMsg.GET_DIRECTION, 0, 1],
    ['a non-zero value for GET_VALUE', GpioMsg.GET_VALUE, 0, 0xffff_ffff],
    ['an interrupt type that does not exist', GpioMsg.SET_IRQ_TYPE, 0, 5],
    ['an interrupt type that does not exist', GpioMsg.SET_IRQ_TYPE, 0, 0x10],
  ])('%s (type %i, line %i, value %i) is VIRTIO_GPIO_STATUS_ERR with value 0', (_what, type, line, value) => {
    const h = new Harness();
    const before = h.chip.line(0);
    const u = h.request(type, line, value);
    expect([u.len, ...u.bytes]).toEqual([2, ERR, 0]);
    expect(h.chip.line(0)).toEqual(before);
    expect(h.device.stats.errors).toBe(1);
  });

  it('a request that is not 8 readable bytes is ERR; a response of 1 byte gets the status alone; none writable: used 0', () => {
    const h = new Harness();
    const req = new Uint8Array([GpioMsg.GET_VALUE, 0, 0, 0, 0, 0, 0, 0]);
    h.raw(0, [req.subarray(0, 7)], [2]);
    h.raw(0, [req, new Uint8Array(1)], [2]);
    h.raw(0, [req.subarray(0, 3), req.subarray(3)], [1, 1]); // split anywhere: fine
    h.raw(0, [req], [1]);
    h.raw(0, [req], []);
    h.raw(0, [], [2]);
    const got = h.reapRequests().map((u) => [u.len, ...u.bytes]);
    expect(got).toEqual([[2, ERR, 0], [2, ERR, 0], [2, OK, 0], [1, ERR], [0], [2, ERR, 0]]);
    expect(h.device.stats).toMatchObject({ requests: 5, errors: 4, unanswerable: 1 });
  });

  it('SET_IRQ_TYPE is ERR without VIRTIO_GPIO_F_IRQ negotiated, and on an output line; an output cannot take an enabled interrupt', () => {
    const off = new Harness({ irqFeature: false });
    expect(off.msg(GpioMsg.SET_IRQ_TYPE, 0, GpioIrqType.EDGE_RISING)).toEqual([ERR, 0]);
    const h = new Harness();
    h.msg(GpioMsg.SET_DIRECTION, 3, GpioDirection.OUT);
    expect(h.msg(GpioMsg.SET_IRQ_TYPE, 3, GpioIrqType.EDGE_RISING)).toEqual([ERR, 0]);
    expect(h.msg(GpioMsg.SET_IRQ_TYPE, 3, GpioIrqType.NONE)).toEqual([OK, 0]);
    h.msg(GpioMsg.SET_DIRECTION, 0, GpioDirection.IN);
    expect(h.msg(GpioMsg.SET_IRQ_TYPE, 0, GpioIrqType.LEVEL_LOW)).toEqual([OK, 0]);
    expect(h.msg(GpioMsg.SET_DIRECTION, 0, GpioDirection.OUT)).toEqual([ERR, 0]);
  });

  it('a ring the guest corrupted is DEVICE_NEEDS_RESET, not an exception', () => {
    const h = new Harness();
    h.memory.writeU16(SplitDriver.layout(64, 0x1_0000).driverArea + 2, 1000); // avail idx far ahead
    expect(() => h.device.queueNotify(0)).not.toThrow();
    expect(h.resets.length).toBe(1);
  });
});

/** Enables the interrupt of `line` as Linux's bus_sync_unlock does: input, SET_IRQ_TYPE, then the eventq pair. */
function enable(h: Harness, line: number, type: number): void {
  expect(h.msg(GpioMsg.SET_DIRECTION, line, GpioDirection.IN)).toEqual([OK, 0]);
  expect(h.msg(GpioMsg.SET_IRQ_TYPE, line, type)).toEqual([OK, 0]);
  h.unmask(line);
}

describe('eventq (§5.18.7)', () => {
  it('an edge of the enabled type returns the pair of the line VALID; setInput resolves when the guest re-posts it', async () => {
    const h = new Harness();
    enable(h, 0, GpioIrqType.EDGE_RISING);
    expect(h.events).toEqual([]);
    let outcome: string | null = null;
    void h.chip.setInput(0, 1).then((o) => (outcome = o));
    expect(h.events).toEqual([{ len: 1, bytes: Uint8Array.of(GpioIrqStatus.VALID), line: 0 }]);
    await flush();
    expect(outcome).toBeNull(); // masked until the guest unmasks
    h.unmask(0);
    await flush();
    expect(outcome).toBe('delivered');
    await expect(h.chip.setInput(0, 0)).resolves.toBe('none'); // falling: not the type
    expect(h.events.length).toBe(1);
  });

  it('edges while masked are latched (one pending edge) and delivered once when the guest unmasks', async () => {
    const h = new Harness();
    h.msg(GpioMsg.SET_DIRECTION, 0, GpioDirection.IN);
    h.msg(GpioMsg.SET_IRQ_TYPE, 0, GpioIrqType.EDGE_BOTH);
    const outcomes = [h.chip.setInput(0, 1), h.chip.setInput(0, 0), h.chip.setInput(0, 1)];
    expect(h.chip.line(0).latched).toBe(true);
    h.unmask(0);
    expect(h.events.map((e) => e.bytes[0])).toEqual([GpioIrqStatus.VALID]);
    h.unmask(0);
    expect(await Promise.all(outcomes)).toEqual(['delivered', 'delivered', 'delivered']);
    expect(h.events.length).toBe(1);
  });

  it('a level interrupt fires while the level holds, again at each unmask, and is not latched while masked', async () => {
    const h = new Harness();
    enable(h, 0, GpioIrqType.LEVEL_HIGH);
    expect(h.events.length).toBe(0);
    void h.chip.setInput(0, 1);
    expect(h.events.length).toBe(1);
    h.unmask(0);
    h.unmask(0);
    expect(h.events.length).toBe(3); // re-fired at each unmask: still high
    void h.chip.setInput(0, 0); // masked now: the low level is not an interrupt
    void h.chip.setInput(0, 1); // and a high level while masked is not latched...
    void h.chip.setInput(0, 0); // ...so it is gone when it ends before the unmask
    h.unmask(0);
    expect(h.events.length).toBe(3);
    const fired = h.chip.setInput(0, 1); // the pair is posted: fires at once
    expect(h.events.length).toBe(4);
    h.unmask(0); // still high: fires again at the unmask
    await expect(fired).resolves.toBe('delivered');
    expect(h.events.length).toBe(5);
    const low = new Harness();
    enable(low, 1, GpioIrqType.LEVEL_LOW); // pulled up: inactive
    expect(low.events.length).toBe(0);
    void low.chip.setInput(1, 0);
    expect(low.events.length).toBe(1);
  });

  it('SET_IRQ_TYPE NONE returns the posted pair INVALID and discards a latched edge', async () => {
    const h = new Harness();
    enable(h, 0, GpioIrqType.EDGE_FALLING);
    expect(h.msg(GpioMsg.SET_IRQ_TYPE, 0, GpioIrqType.NONE)).toEqual([OK, 0]);
    expect(h.events).toEqual([{ len: 1, bytes: Uint8Array.of(GpioIrqStatus.INVALID), line: 0 }]);
    h.msg(GpioMsg.SET_IRQ_TYPE, 0, GpioIrqType.EDGE_FALLING);
    void h.chip.setInput(0, 1);
    const latched = h.chip.setInput(0, 0);
    h.msg(GpioMsg.SET_IRQ_TYPE, 0, GpioIrqType.NONE);
    await expect(latched).resolves.toBe('discarded');
    h.msg(GpioMsg.SET_IRQ_TYPE, 0, GpioIrqType.EDGE_FALLING);
    h.unmask(0);
    expect(h.events.length).toBe(1); // nothing latched survived the disable
  });

  it('a pair posted before the interrupt is enabled, twice for a line, for a line past ngpio, or malformed, comes back INVALID', () => {
    const h = new Harness();
    h.unmask(0); // not enabled
    enable(h, 1, GpioIrqType.EDGE_RISING);
    h.unmask(1); // a second pair
    h.unmask(9); // no such line
    h.raw(1, [new Uint8Array(3)], [1]); // request too long
    h.raw(1, [new Uint8Array(2)], []); // no response byte: used 0
    expect(h.events.map((e) => [e.len, e.bytes[0]])).toEqual([[1, 0], [1, 0], [1, 0], [1, 0], [0, undefined]]);
    expect(h.device.stats.invalidated).toBe(5);
    void h.chip.setInput(1, 0); // line 1's first pair is still held and works
    expect(h.events.length).toBe(5);
    void h.chip.setInput(1, 1);
    expect(h.events.at(-1)).toEqual({ len: 1, bytes: Uint8Array.of(1), line: 1 });
  });

  it('without VIRTIO_GPIO_F_IRQ an eventq pair is returned INVALID', () => {
    const h = new Harness({ irqFeature: false });
    h.unmask(0);
    expect(h.events.map((e) => e.bytes[0])).toEqual([GpioIrqStatus.INVALID]);
  });

  it('a guest that unmasks from inside the interrupt (synchronously): every awaited edge and a latched one are delivered', async () => {
    const h = new Harness();
    h.msg(GpioMsg.SET_DIRECTION, 0, GpioDirection.IN);
    h.msg(GpioMsg.SET_IRQ_TYPE, 0, GpioIrqType.EDGE_BOTH);
    const latched = h.chip.setInput(0, 1);
    h.onEvent = (u) => (u.bytes[0] === GpioIrqStatus.VALID ? h.unmask(0) : undefined);
    h.unmask(0);
    await expect(latched).resolves.toBe('delivered');
    for (let i = 0; i < 20; i++) await expect(h.chip.setInput(0, i % 2 === 0 ? 0 : 1)).resolves.toBe('delivered');
    expect(h.device.stats.interrupts).toBe(21);
    const level = new Harness();
    level.msg(GpioMsg.SET_DIRECTION, 0, GpioDirection.IN);
    level.msg(GpioMsg.SET_IRQ_TYPE, 0, GpioIrqType.LEVEL_HIGH);
    level.unmask(0);
    let n = 0;
    level.onEvent = () => (++n < 5 ? level.unmask(0) : undefined); // re-fires while high, until the guest stops unmasking
    void level.chip.setInput(0, 1);
    expect(n).toBe(5);
  });

  it('1,000 edges in a burst, each awaited: the guest (Linux: the event, GET_VALUE, re-post) sees every one, in order, none twice', async () => {
    const h = new Harness({ packed: true });
    enable(h, 0, GpioIrqType.EDGE_BOTH);
    const seen: number[] = [];
    h.chip.onChange(() => undefined);
    // The guest: on each event, read the level (gpiolib-cdev does for EDGE_BOTH), then unmask.
    const guest = setInterval(() => {
      while (h.events.length > seen.length) {
        seen.push(h.msg(GpioMsg.GET_VALUE, 0)[1]);
        h.unmask(0);
      }
    }, 0);
    const outcomes: string[] = [];
    for (let i = 0; i < 1000; i++) outcomes.push(await h.chip.setInput(0, i % 2 === 0 ? 1 : 0));
    clearInterval(guest);
    expect(outcomes.every((o) => o === 'delivered')).toBe(true);
    expect(seen.length).toBe(1000);
    expect(seen.every((v, i) => v === (i % 2 === 0 ? 1 : 0))).toBe(true);
    expect(h.device.stats.interrupts).toBe(1000);
  });

  it('a reset returns every line to direction none with interrupts disabled, drops held pairs and settles waiters', async () => {
    const h = new Harness();
    enable(h, 0, GpioIrqType.EDGE_RISING);
    const delivered = h.chip.setInput(0, 1);
    h.msg(GpioMsg.SET_DIRECTION, 1, GpioDirection.IN);
    h.msg(GpioMsg.SET_IRQ_TYPE, 1, GpioIrqType.EDGE_FALLING);
    const latched = h.chip.setInput(1, 0);
    const seen: GpioLineEvent[] = [];
    h.chip.onChange((e) => seen.push(e));
    h.device.reset();
    await expect(delivered).resolves.toBe('delivered');
    await expect(latched).resolves.toBe('discarded');
    expect(h.chip.line(0)).toMatchObject({ direction: GpioDirection.NONE, irqType: GpioIrqType.NONE, driven: 1 });
    expect(seen).toContainEqual({ kind: 'direction', line: 1, direction: GpioDirection.NONE });
    expect(h.events.length).toBe(1);
  });
});

describe('GpioChip host API', () => {
  it('find, line, pulse and argument checks', async () => {
    const chip = new GpioChip([{ name: 'button', pull: 'up' }, 'led']);
    expect(chip.find('led')).toBe(1);
    expect(chip.find('nope')).toBe(-1);
    expect(chip.find('')).toBe(-1);
    expect(chip.line(0)).toEqual({ name: 'button', direction: 0, value: 1, output: 0, driven: null, pull: 'up', irqType: 0, latched: false });
    await expect(chip.pulse(0)).resolves.toEqual(['none', 'none']);
    expect(chip.line(0).driven).toBe(1);
    expect(() => chip.setInput(2, 1)).toThrow(RangeError);
    expect(() => chip.setInput(0, 2 as 1)).toThrow(RangeError);
    expect(() => chip.line(-1)).toThrow(RangeError);
    const off = chip.onChange(() => undefined);
    off();
  });
});
