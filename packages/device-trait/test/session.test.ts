/**
 * DeviceSession: status sequences (the shared driver table), feature refusals, activation and its
 * guard, DEVICE_NEEDS_RESET from every source, per-queue reset and enable, reset with requests in
 * flight (late completions dropped, no interrupt), stale contexts inert, frontend negotiation.
 */
import { describe, expect, it } from '@jest/globals';
import { DeviceSession, isDeviceError } from '@vmv/device-trait';
import { DRIVER_SEQUENCES, EVENT_IDX, EchoDevice, FakeTransport, LIVE, RING_PACKED, S, VERSION_1, runSequence, sessionPort, sessionRig, writeFeatures } from './support/session';

describe('DeviceSession: the shared driver sequences', () => {
  for (const seq of DRIVER_SEQUENCES) {
    it(seq.name, async () => {
      const rig = sessionRig();
      await runSequence(sessionPort(rig), seq, (what, actual, expected) => expect({ what, actual }).toEqual({ what, actual: expected }));
    });
  }
});

describe('DeviceSession: negotiation and activation', () => {
  it('offers the given features, refuses FEATURES_OK the device refuses, activates at DRIVER_OK with the negotiated set', () => {
    const device = new EchoDevice();
    device.refuse = (f) => (f & EVENT_IDX) !== 0n;
    const rig = sessionRig(device);
    const s = rig.session;
    s.writeStatus(S.ACKNOWLEDGE);
    s.writeStatus(S.ACKNOWLEDGE | S.DRIVER);
    writeFeatures(s, VERSION_1 | EVENT_IDX);
    expect(s.writeStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK)).toEqual({ kind: 'accepted', activate: false, featuresRefused: true });
    expect(s.status).toBe(S.ACKNOWLEDGE | S.DRIVER);
    writeFeatures(s, VERSION_1);
    s.writeStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
    expect(rig.transport.events).toContainEqual({ type: 'features-ok', features: VERSION_1 });
    rig.setupQueue(0);
    s.writeStatus(LIVE);
    expect(s.activated).toBe(true);
    expect(device.ctx!.features).toBe(VERSION_1);
    expect(device.ctx!.queues[1]).toBeNull();
    expect(rig.transport.kinds()).toEqual(['features-ok', 'activated']);
  });

  it('a transport that cannot build the queues leaves the device unstarted', () => {
    const rig = sessionRig();
    rig.transport.next = () => null;
    rig.toLive();
    expect(rig.session.activated).toBe(false);
    expect(rig.device.activations).toBe(0);
    expect(rig.session.notify(0)).toBe('while the device is not activated');
  });

  it('refuses bad queue indices from the device and the transport', () => {
    const rig = sessionRig();
    rig.toLive();
    const irq = rig.device.ctx!.interrupt;
    for (const bad of [-1, 2, 1.5, NaN]) expect(() => irq.signalUsedBuffer(bad)).toThrow(RangeError);
    expect(() => rig.session.resetQueue(5)).toThrow(RangeError);
    expect(() => rig.session.enableQueue(-1, rig.rings[0]!.queue)).toThrow(RangeError);
    expect(rig.session.notify(7)).toBe('for queue 7, which is not enabled');
    expect(() => rig.session.activate({ memory: rig.memory, queues: [] })).not.toThrow(); // already active
  });

  it('notify refuses before DRIVER_OK, after FAILED and in DEVICE_NEEDS_RESET', () => {
    const rig = sessionRig();
    expect(rig.session.notify(0)).toBe('before DRIVER_OK');
    rig.toLive();
    rig.session.needsReset(new Error('x'));
    expect(rig.session.notify(0)).toBe('while DEVICE_NEEDS_RESET is set');
    rig.session.writeStatus(0);
    rig.toLive();
    rig.session.writeStatus(LIVE | S.FAILED);
    expect(rig.session.notify(0)).toBe('after FAILED');
  });
});

describe('DeviceSession: DEVICE_NEEDS_RESET', () => {
  it('through the context: once, with a configuration interrupt, the first cause kept', () => {
    const rig = sessionRig();
    rig.toLive();
    const first = new Error('backend gone');
    rig.device.ctx!.needsReset(first);
    rig.device.ctx!.needsReset(new Error('again'));
    expect(rig.session.status).toBe(LIVE | S.DEVICE_NEEDS_RESET);
    expect(rig.transport.configInterrupts).toBe(1);
    expect(rig.session.needsResetCause).toBe(first);
    expect(rig.transport.kinds().filter((k) => k === 'needs-reset')).toHaveLength(1);
    rig.session.writeStatus(0);
    expect(rig.session.status).toBe(0);
    expect(rig.session.needsResetCause).toBeUndefined();
  });

  it('a throwing activate: not running, context dead, queues retired, DEVICE_NEEDS_RESET', () => {
    const rig = sessionRig();
    rig.device.throwOn = 'activate';
    rig.toLive();
    expect(rig.session.activated).toBe(false);
    expect(rig.session.status).toBe(LIVE | S.DEVICE_NEEDS_RESET);
    expect(rig.transport.configInterrupts).toBe(1);
    const e = rig.transport.events.find((x) => x.type === 'needs-reset');
    expect(e).toMatchObject({ message: expect.stringMatching(/refused activation: Error: activate refused/) });
  });

  it('a throwing queueReset or queueEnable puts the session in DEVICE_NEEDS_RESET', () => {
    for (const where of ['queueReset', 'queueEnable'] as const) {
      const rig = sessionRig();
      rig.toLive();
      rig.device.throwOn = where;
      expect(rig.session.resetQueue(0)).toBe(true);
      if (where === 'queueEnable') rig.session.enableQueue(0, rig.setupQueue(0).queue);
      expect(rig.session.status & S.DEVICE_NEEDS_RESET).toBe(S.DEVICE_NEEDS_RESET);
      expect(rig.device.queueHookCalls).toEqual(where === 'queueReset' ? ['reset 0'] : ['reset 0', 'enable 0']);
    }
  });

  it('a failed configuration read reads zeros; DRIVER_OK later starts nothing and tells the driver', () => {
    const rig = sessionRig();
    rig.session.writeStatus(S.ACKNOWLEDGE);
    rig.session.writeStatus(S.ACKNOWLEDGE | S.DRIVER);
    writeFeatures(rig.session, VERSION_1);
    rig.session.writeStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
    rig.device.throwOn = 'readConfig';
    const data = new Uint8Array(4).fill(1);
    rig.session.readConfig(0, data);
    expect([...data]).toEqual([0, 0, 0, 0]);
    expect(rig.transport.configInterrupts).toBe(0); // the driver is not running yet
    rig.session.writeStatus(LIVE | S.DEVICE_NEEDS_RESET);
    expect(rig.session.activated).toBe(false);
    expect(rig.transport.configInterrupts).toBe(1);
    expect(rig.transport.kinds()).toContain('needs-reset-announced');
  });
});

describe('DeviceSession: reset with requests in flight', () => {
  for (const features of [VERSION_1 | EVENT_IDX, VERSION_1 | RING_PACKED]) {
    it(`late completions are dropped and signal nothing (${features & RING_PACKED ? 'packed' : 'split'})`, () => {
      const rig = sessionRig();
      rig.device.deferred = true;
      rig.toLive(features);
      expect(rig.submit(0, 3)).toBe(true);
      expect(rig.device.held).toHaveLength(3);
      const ctx = rig.device.ctx!;
      const ring = rig.rings[0]!;
      rig.session.writeStatus(0);
      expect(rig.device.resets).toBe(2); // toLive began with a reset;
      const before = rig.transport.usedInterrupts.length;
      rig.device.completeHeld();
      expect(rig.collect(0)).toEqual([]);
      expect(ring.queue.nextUsed).toBe(0);
      expect(rig.transport.usedInterrupts.length).toBe(before);
      // The stale context is inert.
      ctx.interrupt.signalUsedBuffer(0);
      ctx.interrupt.signalConfigChange();
      ctx.needsReset(new Error('late'));
      expect(rig.transport.usedInterrupts.length).toBe(before);
      expect(rig.session.status).toBe(0);
      expect(rig.transport.configInterrupts).toBe(0);
    });
  }

  it('a queue reset drops its late completions and its interrupts; the re-enabled queue works', () => {
    const rig = sessionRig();
    rig.device.deferred = true;
    rig.toLive();
    rig.submit(0, 2);
    const ctx = rig.device.ctx!;
    expect(rig.session.resetQueue(0)).toBe(true);
    expect(ctx.queues[0]).toBeNull();
    rig.device.completeHeld();
    ctx.interrupt.signalUsedBuffer(0);
    expect(rig.transport.usedInterrupts).toEqual([]);
    rig.device.deferred = false;
    const r = rig.setupQueue(0);
    expect(rig.session.enableQueue(0, r.queue)).toBe(true);
    expect(ctx.queues[0]).toBe(r.queue);
    rig.submit(0, 2);
    expect(rig.collect(0).map(([, len]) => len)).toEqual([16, 16]);
    expect(rig.transport.usedInterrupts).toEqual([0]);
  });

  it('an asynchronous completion signals the interrupt itself, once the loop has returned', () => {
    const rig = sessionRig();
    rig.device.deferred = true;
    rig.toLive(VERSION_1);
    rig.submit(0, 2);
    expect(rig.transport.usedInterrupts).toEqual([]);
    rig.device.completeHeld();
    expect(rig.transport.usedInterrupts).toEqual([0, 0]);
    expect(rig.collect(0)).toHaveLength(2);
  });

  it('a device that throws from reset() is reset all the same', () => {
    const rig = sessionRig();
    rig.toLive();
    rig.device.throwOn = 'reset';
    rig.session.reset();
    expect(rig.session.status).toBe(0);
    expect(rig.session.activated).toBe(false);
    expect(rig.transport.kinds().slice(-2)).toEqual(['reset-failed', 'reset']);
  });
});

describe('DeviceSession: host side', () => {
  it('attach routes configChanged: the generation moves, the driver is told only when running', () => {
    const device = new EchoDevice();
    let host: { configChanged(): void } | null = null;
    Object.assign(device, { attach: (h: { configChanged(): void }) => (host = h) });
    const rig = sessionRig(device);
    rig.session.attach();
    host!.configChanged();
    expect(rig.session.configGeneration).toBe(1);
    expect(rig.transport.configInterrupts).toBe(0);
    rig.toLive();
    host!.configChanged();
    expect(rig.session.configGeneration).toBe(2);
    expect(rig.transport.configInterrupts).toBe(1);
  });

  it('drain settles for a device without drain, and never rejects', async () => {
    const rig = sessionRig();
    await expect(rig.session.drain()).resolves.toBeUndefined();
    Object.assign(rig.device, { drain: () => Promise.reject(new Error('x')) });
    await expect(rig.session.drain()).resolves.toBeUndefined();
  });

  it('snapshot state round-trips; restore is refused while activated and checked as untrusted input', () => {
    const rig = sessionRig();
    rig.toLive();
    const saved = rig.session.snapshotState();
    expect(rig.session.checkState(saved)).toBe(rig.device.deviceFeatures);
    expect(() => rig.session.restoreState(saved)).toThrow(TypeError);
    const other = sessionRig();
    other.session.restoreState(JSON.parse(JSON.stringify(saved)));
    expect(other.session.status).toBe(LIVE);
    let error: unknown;
    try {
      other.session.checkState({ ...saved, status: 0x100 });
    } catch (e) {
      error = e;
    }
    expect(isDeviceError(error, 'Device.InvalidSnapshotError')).toBe(true);
  });

  it('refuses a transport without its hooks and features without VERSION_1', () => {
    expect(() => new DeviceSession(new EchoDevice(), {} as FakeTransport)).toThrow(TypeError);
    expect(() => new DeviceSession(new EchoDevice(EVENT_IDX), new FakeTransport())).toThrow(RangeError);
  });
});

describe('DeviceSession: frontend negotiation (vhost-user)', () => {
  it('takes features whole, records the status as relayed, activates when the transport says, deactivates keeping the negotiation', () => {
    const rig = sessionRig(new EchoDevice(), 'frontend');
    const s = rig.session;
    expect(s.acceptFeatures(EVENT_IDX)).toBe(false);
    expect(s.acceptFeatures(VERSION_1 | EVENT_IDX)).toBe(true);
    expect(s.negotiatedFeatures).toBe(VERSION_1 | EVENT_IDX);
    // QEMU adds FEATURES_OK alone, then ACKNOWLEDGE | DRIVER | DRIVER_OK.
    s.writeStatus(S.FEATURES_OK);
    expect(s.status).toBe(S.FEATURES_OK);
    rig.setupQueue(0);
    s.writeStatus(LIVE);
    expect(s.activated).toBe(true);
    expect(rig.submit(0, 2)).toBe(true);
    expect(rig.collect(0)).toHaveLength(2);
    s.writeStatus(0); // not a reset
    expect(s.activated).toBe(true);
    s.needsReset(new Error('ring broke'));
    expect(s.deactivate()).toBe(true);
    expect(s.status & S.DEVICE_NEEDS_RESET).toBe(0);
    expect(s.negotiatedFeatures).toBe(VERSION_1 | EVENT_IDX);
    expect(rig.device.resets).toBe(1);
    expect(s.activate()).toBe(true); // the next kick
    expect(rig.device.activations).toBe(2);
  });
});
