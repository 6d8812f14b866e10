/**
 * Queues, notifications, interrupts, reset and DEVICE_NEEDS_RESET (VIRTIO 1.2 §2.1.2, §2.4,
 * §2.6.1, §4.2.2, §4.2.3).
 */
import { describe, expect, it } from '@jest/globals';
import { ConfigSpace, Feature, featureBit } from '@vmv/device-trait';
import { GuestMemory, GuestMemoryHolder } from '@vmv/memory';
import { InMemoryInterruptController } from '@vmv/bus';
import { MmioRegister as R, VirtioMmioTransport } from '@vmv/transport-mmio';
import { TestDevice, VERSION_1, echoNotify } from './helpers/devices';
import { IRQ, harness } from './helpers/harness';

describe('queue registers', () => {
  it('QueueNumMax shows each queue\'s maximum and 0 for queues that do not exist', () => {
    const h = harness({ queueMaxSizes: [256, 64] });
    h.wr(R.QUEUE_SEL, 1);
    expect(h.rd(R.QUEUE_NUM_MAX)).toBe(64);
    h.wr(R.QUEUE_SEL, 2);
    expect(h.rd(R.QUEUE_NUM_MAX)).toBe(0);
    expect(h.rd(R.QUEUE_READY)).toBe(0);
    expect(h.t.queueCount).toBe(2);
  });

  it('takes queue fields between FEATURES_OK and DRIVER_OK, and records them', () => {
    const h = harness();
    h.toFeaturesOk();
    h.setupQueue(0, 0x2_0000, 64);
    expect(h.rd(R.QUEUE_READY)).toBe(1);
    expect(h.t.queueInfo(0)).toEqual({ maxSize: 256, size: 64, ready: true, descTable: 0x2_0000, driverArea: 0x2_0400, deviceArea: 0x2_1000, active: false });
    h.wr(R.STATUS, 0xf);
    expect(h.t.queueInfo(0).active).toBe(true);
    expect(h.diagnostics).toEqual([]);
  });

  it('keeps 64-bit addresses from the two halves', () => {
    const h = harness();
    h.toFeaturesOk();
    h.wr(R.QUEUE_DESC_LOW, 0x1000);
    h.wr(R.QUEUE_DESC_HIGH, 0x1);
    h.wr(R.QUEUE_DEVICE_LOW, 0x2000);
    h.wr(R.QUEUE_DEVICE_HIGH, 0x8000_0000);
    expect(h.t.queueInfo(0).descTable).toBe(0x1_0000_1000);
    expect(h.t.queueInfo(0).deviceArea).toBe(0x8000_0000_0000_2000n);
  });

  it('refuses queue fields before FEATURES_OK', () => {
    const h = harness();
    h.wr(R.STATUS, 1);
    h.wr(R.STATUS, 3);
    h.wr(R.QUEUE_NUM, 16);
    h.wr(R.QUEUE_DESC_LOW, 0x1000);
    h.wr(R.QUEUE_READY, 1);
    expect(h.kinds()).toEqual(['refused', 'refused', 'refused']);
    expect(h.t.queueInfo(0)).toMatchObject({ size: 256, descTable: 0, ready: false });
    expect(h.diagnostics[0]!.message).toMatch(/before FEATURES_OK/);
  });

  it('refuses queue fields after DRIVER_OK and while QueueReady is 1', () => {
    const h = harness({ queueMaxSizes: [256, 256] });
    h.toFeaturesOk();
    h.setupQueue(0, 0x2_0000);
    h.wr(R.QUEUE_NUM, 32); // queue 0 is ready
    h.wr(R.QUEUE_DESC_LOW, 0x8000);
    h.wr(R.STATUS, 0xf);
    h.wr(R.QUEUE_SEL, 1);
    h.wr(R.QUEUE_NUM, 32); // after DRIVER_OK
    h.wr(R.QUEUE_DRIVER_HIGH, 1);
    h.wr(R.QUEUE_READY, 1);
    expect(h.kinds()).toEqual(['refused', 'refused', 'refused', 'refused', 'refused']);
    expect(h.diagnostics[0]!.message).toMatch(/while QueueReady is 1/);
    expect(h.diagnostics[2]!.message).toMatch(/after DRIVER_OK/);
    expect(h.t.queueInfo(0)).toMatchObject({ size: 16, descTable: 0x2_0000 });
    expect(h.t.queueInfo(1)).toMatchObject({ size: 256, ready: false, driverArea: 0 });
  });

  it('refuses writes to a queue that does not exist', () => {
    const h = harness();
    h.toFeaturesOk();
    h.wr(R.QUEUE_SEL, 7);
    h.wr(R.QUEUE_NUM, 16);
    h.wr(R.QUEUE_READY, 1);
    h.wr(R.QUEUE_READY, 0);
    expect(h.kinds()).toEqual(['refused', 'refused', 'refused']);
  });

  it('takes only 0 or 1 in QueueReady; 0 disables the queue', () => {
    const h = harness();
    h.toFeaturesOk();
    h.setupQueue(0, 0x2_0000);
    h.wr(R.QUEUE_READY, 2);
    expect(h.kinds()).toEqual(['refused']);
    h.wr(R.QUEUE_READY, 0);
    expect(h.rd(R.QUEUE_READY)).toBe(0);
    h.wr(R.STATUS, 0xf);
    expect(h.device.ctx!.queues).toEqual([null]);
  });

  it('records an invalid size or misaligned area, then DRIVER_OK leads to DEVICE_NEEDS_RESET', () => {
    for (const bad of [
      (h: ReturnType<typeof harness>) => h.wr(R.QUEUE_NUM, 100), // not a power of two
      (h: ReturnType<typeof harness>) => h.wr(R.QUEUE_NUM, 512), // above QueueNumMax
      (h: ReturnType<typeof harness>) => h.wr(R.QUEUE_NUM, 0x1_0010), // past 16 bits
      (h: ReturnType<typeof harness>) => h.wr(R.QUEUE_DESC_LOW, 0x2_0008), // not 16-byte aligned
      (h: ReturnType<typeof harness>) => h.wr(R.QUEUE_DEVICE_LOW, 0x2_1002), // not 4-byte aligned
    ]) {
      const h = harness();
      h.toFeaturesOk();
      h.setupQueue(0, 0x2_0000);
      h.wr(R.QUEUE_READY, 0);
      bad(h);
      h.wr(R.QUEUE_READY, 1);
      expect(h.kinds()).toEqual(['invalid-queue-value']);
      h.wr(R.STATUS, 0xf);
      expect(h.rd(R.STATUS)).toBe(0x4f);
      expect(h.kinds()).toEqual(['invalid-queue-value', 'needs-reset']);
      expect(h.device.activations).toBe(0);
      expect(h.rd(R.INTERRUPT_STATUS)).toBe(2);
      expect(h.line()).toBe(true);
    }
  });

  it('a good value written after a bad one lets the queue start', () => {
    const h = harness();
    h.toFeaturesOk();
    h.wr(R.QUEUE_NUM, 100);
    h.setupQueue(0, 0x2_0000, 32);
    h.wr(R.STATUS, 0xf);
    expect(h.rd(R.STATUS)).toBe(0xf);
    expect(h.device.ctx!.queues[0]!.size).toBe(32);
  });

  it('a ring outside guest memory leads to DEVICE_NEEDS_RESET at DRIVER_OK', () => {
    const h = harness();
    h.toFeaturesOk();
    h.setupQueue(0, 0x200_0000);
    h.wr(R.STATUS, 0xf);
    expect(h.rd(R.STATUS)).toBe(0x4f);
    expect(h.diagnostics[0]!.message).toMatch(/queue 0 cannot start: Queue\.AreaOutOfMemoryError/);
  });

  it('reads the current guest memory from a holder at DRIVER_OK', () => {
    const small = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x1000) }]);
    const holder = new GuestMemoryHolder(small);
    const h = harness({}, { memory: holder });
    h.toFeaturesOk();
    h.setupQueue(0, 0x2_0000);
    holder.replace(GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x10_0000) }]));
    h.wr(R.STATUS, 0xf);
    expect(h.rd(R.STATUS)).toBe(0xf);
    expect(h.device.ctx!.memory).toBe(holder.current);
  });
});

describe('activation and notifications', () => {
  it('activates the device at DRIVER_OK with the enabled queues and the negotiated features', () => {
    const h = harness({ queueMaxSizes: [256, 256, 256], features: VERSION_1 | featureBit(Feature.EVENT_IDX) });
    h.toFeaturesOk();
    h.setupQueue(0, 0x1_0000);
    h.setupQueue(2, 0x3_0000);
    h.wr(R.STATUS, 0xf);
    const ctx = h.device.ctx!;
    expect(ctx.queues.map((q) => q?.size ?? null)).toEqual([16, null, 16]);
    expect(ctx.queues[0]!.eventIdx).toBe(true);
    expect(ctx.features).toBe(VERSION_1 | featureBit(Feature.EVENT_IDX));
    expect(ctx.memory).toBe(h.memory);
    expect(h.t.activated).toBe(true);
  });

  it('delivers QueueNotify to the device\'s queue handler only when live and the queue is enabled', () => {
    const h = harness({ queueMaxSizes: [256, 256] });
    h.toFeaturesOk();
    h.setupQueue(0, 0x1_0000);
    h.wr(R.QUEUE_NOTIFY, 0); // before DRIVER_OK
    h.wr(R.STATUS, 0xf);
    h.wr(R.QUEUE_NOTIFY, 0);
    h.wr(R.QUEUE_NOTIFY, 1); // not enabled
    h.wr(R.QUEUE_NOTIFY, 0x1_0000); // not a queue index without NOTIFICATION_DATA
    expect(h.device.notifies).toEqual([[0, undefined]]);
    expect(h.kinds()).toEqual(['refused', 'refused', 'refused']);
    expect(h.diagnostics[0]!.message).toMatch(/before DRIVER_OK/);
  });

  it('with VIRTIO_F_NOTIFICATION_DATA passes the queue index from bits 0..15 and the whole value', () => {
    const h = harness({ queueMaxSizes: [256, 256], features: VERSION_1 | featureBit(Feature.NOTIFICATION_DATA) });
    h.toLive();
    h.wr(R.QUEUE_NOTIFY, (0x8005 << 16) | 1);
    expect(h.device.notifies).toEqual([[1, ((0x8005 << 16) | 1) >>> 0]]);
  });

  it('refuses notifications after FAILED', () => {
    const h = harness();
    h.toLive();
    h.wr(R.STATUS, 0x8f);
    h.wr(R.QUEUE_NOTIFY, 0);
    expect(h.device.notifies).toEqual([]);
    expect(h.diagnostics.at(-1)!.message).toMatch(/after FAILED/);
  });
});

describe('interrupts', () => {
  it('holds InterruptStatus bits until acknowledged; the line stays up while any bit is set', () => {
    const h = harness();
    h.toLive();
    const ctx = h.device.ctx!;
    ctx.interrupt.signalUsedBuffer(0);
    ctx.interrupt.signalConfigChange();
    expect(h.rd(R.INTERRUPT_STATUS)).toBe(3);
    expect(h.line()).toBe(true);
    h.wr(R.INTERRUPT_ACK, 1);
    expect(h.rd(R.INTERRUPT_STATUS)).toBe(2);
    expect(h.line()).toBe(true);
    h.wr(R.INTERRUPT_ACK, 0xffff_fffe);
    expect(h.rd(R.INTERRUPT_STATUS)).toBe(0);
    expect(h.line()).toBe(false);
    expect(h.irqs.takeDeliveries()).toHaveLength(1); // a level line: one rising edge
  });

  it('raises a level line again after an end of interrupt while bits are still set', () => {
    const h = harness();
    h.toLive();
    h.device.ctx!.interrupt.signalUsedBuffer(0);
    h.irqs.takeDeliveries();
    expect(h.irqs.ack(IRQ)).toBe(true); // the interrupt controller's EOI lowers the line
    expect(h.line()).toBe(true); // ... and the transport raises it again: status is still 1
    expect(h.irqs.takeDeliveries()).toHaveLength(1);
    h.wr(R.INTERRUPT_ACK, 1);
    expect(h.irqs.ack(IRQ)).toBe(false);
  });

  it('pulses an edge line once per event, and an MSI vector once per event', () => {
    for (const mode of ['edge', 'msi'] as const) {
      const h = harness({}, { mode });
      h.toLive();
      h.device.ctx!.interrupt.signalUsedBuffer(0);
      h.device.ctx!.interrupt.signalUsedBuffer(0);
      expect(h.irqs.takeDeliveries()).toHaveLength(2);
      expect(h.rd(R.INTERRUPT_STATUS)).toBe(1);
      h.wr(R.INTERRUPT_ACK, 1);
      expect(h.rd(R.INTERRUPT_STATUS)).toBe(0);
    }
  });

  it('a notification from a device that was reset is dropped', () => {
    const h = harness();
    h.toLive();
    const stale = h.device.ctx!;
    h.wr(R.STATUS, 0);
    stale.interrupt.signalUsedBuffer(0);
    stale.interrupt.signalConfigChange();
    stale.needsReset(new Error('late'));
    expect(h.rd(R.INTERRUPT_STATUS)).toBe(0);
    expect(h.rd(R.STATUS)).toBe(0);
    expect(h.line()).toBe(false);
  });

  it('signalUsedBuffer for a queue the device does not have is a RangeError (device bug)', () => {
    const h = harness();
    h.toLive();
    expect(() => h.device.ctx!.interrupt.signalUsedBuffer(3)).toThrow(RangeError);
  });
});

describe('reset', () => {
  it('writing 0 resets the device, drops its queues, clears InterruptStatus and lowers the line', () => {
    const h = harness({ queueMaxSizes: [256, 256] });
    h.toLive();
    const ctx = h.device.ctx!;
    ctx.interrupt.signalUsedBuffer(0);
    h.wr(R.QUEUE_SEL, 1);
    h.wr(R.DEVICE_FEATURES_SEL, 1);
    const resets = h.device.resets;
    h.wr(R.STATUS, 0);
    expect(h.device.resets).toBe(resets + 1);
    expect(ctx.queues).toEqual([null, null]); // the old context's queues are gone
    expect(h.t.activated).toBe(false);
    expect(h.rd(R.STATUS)).toBe(0);
    expect(h.rd(R.INTERRUPT_STATUS)).toBe(0);
    expect(h.line()).toBe(false);
    expect(h.rd(R.QUEUE_READY)).toBe(0); // QueueSel is back to 0, and queue 0 is not ready
    expect(h.t.queueInfo(1)).toMatchObject({ ready: false, size: 256, descTable: 0 });
    expect(h.rd(R.DEVICE_FEATURES)).toBe(0); // DeviceFeaturesSel is back to 0: low word
    expect(h.t.negotiatedFeatures).toBe(0n);
    // The device can be driven again from scratch.
    h.toLive();
    expect(h.device.activations).toBe(2);
  });

  it('the embedder can reset and dispose of the transport', () => {
    const h = harness();
    h.toLive();
    h.device.ctx!.interrupt.signalUsedBuffer(0);
    h.t.reset();
    expect(h.rd(R.STATUS)).toBe(0);
    expect(h.line()).toBe(false);
    h.toLive();
    const resets = h.device.resets;
    h.t.dispose();
    expect(h.device.resets).toBe(resets + 1);
    expect(h.t.status).toBe(0);
  });

  it('an exception from device.reset() is reported; the reset completes', () => {
    const h = harness();
    h.toLive();
    h.device.throwOn = 'reset';
    h.wr(R.STATUS, 0);
    expect(h.rd(R.STATUS)).toBe(0);
    expect(h.kinds()).toEqual(['device-error']);
  });
});

describe('DEVICE_NEEDS_RESET', () => {
  for (const where of ['activate', 'notify'] as const) {
    it(`an exception from the device's ${where} sets DEVICE_NEEDS_RESET with a configuration interrupt`, () => {
      const h = harness();
      h.device.throwOn = where;
      h.toLive();
      if (where === 'notify') h.wr(R.QUEUE_NOTIFY, 0);
      expect(h.rd(R.STATUS)).toBe(0x4f);
      expect(h.rd(R.INTERRUPT_STATUS)).toBe(2);
      expect(h.line()).toBe(true);
      expect(h.kinds()).toEqual(['needs-reset']);
      expect((h.diagnostics[0]!.cause as Error).message).toMatch(/refused|exploded/);
      expect(h.t.activated).toBe(where === 'notify');
    });
  }

  it('a configuration access that makes the device throw reads zeros and sets DEVICE_NEEDS_RESET', () => {
    const h = harness({ config: new ConfigSpace(8) });
    h.toLive();
    h.device.throwOn = 'readConfig';
    expect(h.rd(0x100)).toBe(0);
    expect(h.rd(R.STATUS)).toBe(0x4f);
    h.wr(R.STATUS, 0);
    h.toLive();
    h.device.throwOn = 'writeConfig';
    h.wr(0x104, 1);
    expect(h.rd(R.STATUS)).toBe(0x4f);
    expect(h.kinds()).toEqual(['needs-reset', 'needs-reset']);
  });

  it('a device reporting an error through its context sets DEVICE_NEEDS_RESET once', () => {
    const h = harness();
    h.toLive();
    h.device.ctx!.needsReset(new Error('backend gone'));
    h.device.ctx!.needsReset(new Error('again'));
    expect(h.rd(R.STATUS)).toBe(0x4f);
    expect(h.irqs.takeDeliveries()).toHaveLength(1);
    // Linux's virtio_add_status reads Status and writes it back with a new bit: still accepted.
    h.wr(R.STATUS, 0x4f | 0x80);
    expect(h.rd(R.STATUS)).toBe(0xcf);
    h.wr(R.STATUS, 0);
    expect(h.rd(R.STATUS)).toBe(0);
  });

  it('DRIVER_OK on a device already in DEVICE_NEEDS_RESET does not start it, and the now running driver is told', () => {
    const h = harness({ config: new ConfigSpace(8) });
    h.toFeaturesOk();
    h.setupQueue(0, 0x1_0000);
    h.device.throwOn = 'readConfig';
    expect(h.rd(0x100)).toBe(0); // the device fails during the driver's probe
    expect(h.rd(R.STATUS)).toBe(0x4b);
    expect(h.rd(R.INTERRUPT_STATUS)).toBe(0); // the driver is not running yet: no interrupt
    expect(h.line()).toBe(false);
    h.device.throwOn = null;
    h.wr(R.STATUS, 0x4f); // Linux's virtio_add_status: what it read, with DRIVER_OK
    expect(h.rd(R.STATUS)).toBe(0x4f);
    expect(h.device.activations).toBe(0);
    expect(h.t.activated).toBe(false);
    expect(h.rd(R.INTERRUPT_STATUS)).toBe(2);
    expect(h.line()).toBe(true);
    expect(h.kinds()).toEqual(['needs-reset', 'needs-reset']);
    h.wr(R.QUEUE_NOTIFY, 0);
    expect(h.device.notifies).toEqual([]);
    // A reset recovers.
    h.wr(R.STATUS, 0);
    h.toLive();
    expect(h.device.activations).toBe(1);
  });

  it('a queue error from the device (a corrupted ring) sets DEVICE_NEEDS_RESET', () => {
    const h = harness({ onNotify: (d, i) => echoNotify(d, i) });
    h.toLive();
    h.memory.writeU16(0x1_0000 + 16 * 16 + 2, 500); // avail.idx far ahead of a 16-entry ring
    h.wr(R.QUEUE_NOTIFY, 0);
    expect(h.rd(R.STATUS)).toBe(0x4f);
    expect((h.diagnostics[0]!.cause as Error).name).toBe('Queue.InvalidAvailIndexError');
  });
});

describe('queue reset (VIRTIO_F_RING_RESET, §2.6.1)', () => {
  const RING_RESET = VERSION_1 | featureBit(Feature.RING_RESET);

  it('is refused without VIRTIO_F_RING_RESET', () => {
    const h = harness();
    h.toLive();
    h.wr(R.QUEUE_RESET, 1);
    expect(h.kinds()).toEqual(['refused']);
    expect(h.device.ctx!.queues[0]).not.toBeNull();
  });

  it('resets one queue of a live device; the driver may reconfigure and re-enable it', () => {
    const h = harness({ features: RING_RESET, queueMaxSizes: [256, 256] });
    h.toLive();
    const ctx = h.device.ctx!;
    const q1 = ctx.queues[1];
    h.wr(R.QUEUE_SEL, 0);
    h.wr(R.QUEUE_RESET, 1);
    expect(h.rd(R.QUEUE_RESET)).toBe(0); // completed
    expect(h.rd(R.QUEUE_READY)).toBe(0);
    expect(ctx.queues[0]).toBeNull();
    expect(ctx.queues[1]).toBe(q1);
    // §2.6.1.1: no notification for the reset queue.
    ctx.interrupt.signalUsedBuffer(0);
    expect(h.rd(R.INTERRUPT_STATUS)).toBe(0);
    h.wr(R.QUEUE_NOTIFY, 0);
    expect(h.device.notifies).toEqual([]);
    // Re-enable with a different size and place.
    h.setupQueue(0, 0x8_0000, 64);
    expect(h.rd(R.QUEUE_READY)).toBe(1);
    expect(ctx.queues[0]!.size).toBe(64);
    expect(h.t.queueInfo(0)).toMatchObject({ descTable: 0x8_0000, active: true });
    h.wr(R.QUEUE_NOTIFY, 0);
    expect(h.device.notifies).toEqual([[0, undefined]]);
    expect(h.kinds()).toEqual(['refused']); // only the notification of the reset queue
    // Other queues stay closed to configuration after DRIVER_OK.
    h.wr(R.QUEUE_SEL, 1);
    h.wr(R.QUEUE_READY, 0);
    h.wr(R.QUEUE_NUM, 8);
    expect(h.kinds()).toEqual(['refused']);
  });

  it('a re-enabled queue with a bad configuration sets DEVICE_NEEDS_RESET', () => {
    const h = harness({ features: RING_RESET });
    h.toLive();
    h.wr(R.QUEUE_RESET, 1);
    h.setupQueue(0, 0x400_0000);
    expect(h.rd(R.STATUS)).toBe(0x4f);
  });

  it('tells a device with queue hooks: queueReset on QueueReset, queueEnable with the new queue on re-enable', () => {
    const h = harness({ features: RING_RESET, queueMaxSizes: [256, 256], queueHooks: true });
    h.toLive();
    const ctx = h.device.ctx!;
    expect(h.device.queueHookCalls).toEqual([]); // activation itself is not a queue event
    h.wr(R.QUEUE_SEL, 1);
    h.wr(R.QUEUE_RESET, 1);
    expect(h.device.queueHookCalls).toEqual([['reset', 1]]);
    expect(ctx.queues[1]).toBeNull();
    h.wr(R.QUEUE_RESET, 1); // already reset: nothing running to take away
    expect(h.device.queueHookCalls).toHaveLength(1);
    h.setupQueue(1, 0x8_0000, 32);
    expect(h.device.queueHookCalls).toHaveLength(2);
    const [what, index, queue] = h.device.queueHookCalls[1]!;
    expect([what, index]).toEqual(['enable', 1]);
    expect(queue).toBe(ctx.queues[1]);
    expect(queue!.size).toBe(32);
    expect(queue!.nextAvail).toBe(0);
    // QueueReady = 0 takes a running queue out of service too.
    h.wr(R.QUEUE_SEL, 0);
    h.wr(R.QUEUE_READY, 0);
    expect(h.device.queueHookCalls.slice(2)).toEqual([['reset', 0]]);
    expect(ctx.queues[0]).toBeNull();
    expect(h.diagnostics).toEqual([]);
  });

  it('QueueReset reads 0 once a queue reset is done, after a device reset and after a re-enable (§4.2.2.1)', () => {
    const h = harness({ features: RING_RESET, queueMaxSizes: [256, 256], queueHooks: true });
    h.toLive();
    const queueResetOf = (i: number): number => {
      h.wr(R.QUEUE_SEL, i);
      return h.rd(R.QUEUE_RESET);
    };
    expect([queueResetOf(0), queueResetOf(1)]).toEqual([0, 0]);
    h.wr(R.QUEUE_SEL, 1);
    h.wr(R.QUEUE_RESET, 1);
    // The reset completes within the write: the driver's poll for 0 ends at once.
    expect(h.rd(R.QUEUE_RESET)).toBe(0);
    expect(h.rd(R.QUEUE_READY)).toBe(0);
    h.setupQueue(1, 0x8_0000, 32);
    expect(h.rd(R.QUEUE_READY)).toBe(1);
    expect(queueResetOf(1)).toBe(0);
    expect(h.device.queueHookCalls.map(([what, i]) => [what, i])).toEqual([
      ['reset', 1],
      ['enable', 1],
    ]);
    // A device reset, then a new initialisation: every queue reads 0 in between and after.
    h.wr(R.STATUS, 0);
    expect(h.rd(R.STATUS)).toBe(0);
    expect([queueResetOf(0), queueResetOf(1)]).toEqual([0, 0]);
    h.toLive();
    expect([queueResetOf(0), queueResetOf(1)]).toEqual([0, 0]);
    expect(h.diagnostics).toEqual([]);
  });

  it('calls queueReset for QueueReady = 0 without VIRTIO_F_RING_RESET too, and never for a queue that was not running', () => {
    const h = harness({ queueMaxSizes: [256, 256], queueHooks: true });
    h.toFeaturesOk();
    h.setupQueue(0, 0x1_0000);
    h.wr(R.QUEUE_READY, 0); // before DRIVER_OK: nothing was running
    h.setupQueue(0, 0x1_0000);
    h.wr(R.STATUS, 0xf);
    h.wr(R.QUEUE_SEL, 1);
    h.wr(R.QUEUE_READY, 0); // queue 1 never enabled
    expect(h.device.queueHookCalls).toEqual([]);
    h.wr(R.QUEUE_SEL, 0);
    h.wr(R.QUEUE_READY, 0);
    expect(h.device.queueHookCalls).toEqual([['reset', 0]]);
    h.wr(R.STATUS, 0); // a device reset is reset(), not a queue event
    expect(h.device.queueHookCalls).toHaveLength(1);
  });

  for (const hook of ['queueReset', 'queueEnable'] as const) {
    it(`an exception from the device's ${hook} sets DEVICE_NEEDS_RESET with a configuration interrupt`, () => {
      const h = harness({ features: RING_RESET, queueHooks: true });
      h.toLive();
      h.device.throwOn = hook;
      h.wr(R.QUEUE_RESET, 1);
      if (hook === 'queueEnable') {
        expect(h.rd(R.STATUS)).toBe(0xf);
        h.setupQueue(0, 0x8_0000);
      }
      expect(h.rd(R.STATUS)).toBe(0x4f);
      expect(h.rd(R.INTERRUPT_STATUS)).toBe(2);
      expect(h.kinds()).toEqual(['needs-reset']);
      expect((h.diagnostics[0]!.cause as Error).message).toBe(`${hook} exploded`);
    });
  }

  it('takes only the value 1', () => {
    const h = harness({ features: RING_RESET });
    h.toLive();
    h.wr(R.QUEUE_RESET, 2);
    expect(h.kinds()).toEqual(['refused']);
    expect(h.device.ctx!.queues[0]).not.toBeNull();
  });
});

describe('shared memory regions (SHMSel, SHMLen, SHMBase)', () => {
  it('describes each region, and all ones for a region that does not exist', () => {
    const h = harness({ sharedMemoryRegions: [{ id: 0, length: 0x100_0000 }, { id: 3, length: 0x2_0000_0000n }] }, { sharedMemoryBases: new Map<number, number | bigint>([[0, 0x8000_0000], [3, 0x10_0000_0000n]]) });
    h.wr(R.SHM_SEL, 3);
    expect([h.rd(R.SHM_LEN_LOW), h.rd(R.SHM_LEN_HIGH), h.rd(R.SHM_BASE_LOW), h.rd(R.SHM_BASE_HIGH)]).toEqual([0, 2, 0, 0x10]);
    h.wr(R.SHM_SEL, 0);
    expect([h.rd(R.SHM_LEN_LOW), h.rd(R.SHM_LEN_HIGH), h.rd(R.SHM_BASE_LOW), h.rd(R.SHM_BASE_HIGH)]).toEqual([0x100_0000, 0, 0x8000_0000, 0]);
    h.wr(R.SHM_SEL, 1);
    expect([h.rd(R.SHM_LEN_LOW), h.rd(R.SHM_LEN_HIGH), h.rd(R.SHM_BASE_LOW), h.rd(R.SHM_BASE_HIGH)]).toEqual([0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff]);
  });

  it('needs a base address for every region the device declares', () => {
    const irqs = new InMemoryInterruptController();
    const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x1000) }]);
    const device = new TestDevice({ sharedMemoryRegions: [{ id: 0, length: 0x1000 }] });
    expect(() => new VirtioMmioTransport(device, { memory, interrupt: irqs.createLegacyGroup(1, 1, 'level') })).toThrow(/needs a base address/);
  });
});

describe('constructor checks (embedder misuse)', () => {
  const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x1000) }]);
  it('throws TypeError / RangeError for bad options', () => {
    const irqs = new InMemoryInterruptController();
    const group = irqs.createLegacyGroup(1, 2, 'level');
    const dev = new TestDevice();
    expect(() => new VirtioMmioTransport(dev, { memory, interrupt: group, interruptIndex: 2 })).toThrow(RangeError);
    expect(() => new VirtioMmioTransport(dev, { memory, interrupt: group, vendorId: -1 })).toThrow(RangeError);
    expect(() => new VirtioMmioTransport(new TestDevice({ queueMaxSizes: [100] }), { memory, interrupt: group })).toThrow(/power of two/);
    expect(() => new VirtioMmioTransport(dev, { memory: {} as GuestMemory, interrupt: group })).toThrow(TypeError);
    expect(() => new VirtioMmioTransport(dev, { memory, interrupt: {} as typeof group })).toThrow(TypeError);
    expect(() => new VirtioMmioTransport({} as TestDevice, { memory, interrupt: group })).toThrow(TypeError);
    expect(new VirtioMmioTransport(dev, { memory, interrupt: group, interruptIndex: 1 }).queueCount).toBe(1);
  });

  it('works without a diagnostic hook', () => {
    const irqs = new InMemoryInterruptController();
    const t = new VirtioMmioTransport(new TestDevice(), { memory, interrupt: irqs.createLegacyGroup(1, 1, 'level') });
    expect(() => t.mmioWrite(0n, 0x3, Uint8Array.of(1))).not.toThrow();
    expect(() => t.queueInfo(9)).toThrow(RangeError);
  });
});
