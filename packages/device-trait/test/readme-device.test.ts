/**
 * The README's complete small device (test/support/readme-device/entropy-device.ts, the README
 * block verbatim) driven the way Linux's hwrng reads a virtio-rng device: one buffer posted, a
 * kick, wait for the completion, again, 50 times, with EVENT_IDX negotiated. Such a driver kicks
 * only when the device's avail_event asks for it, so a device that does not re-enable
 * notifications after a pass gets the first kick and no other (the stall of issue 15: kicks
 * true, false, false, ...). Served through a DeviceSession (what every transport runs) and the
 * driver side of @vmv/queue, split and packed rings; the transports' own tests drive the same copy
 * through virtio-mmio and vhost-user, and tools/examples runs the README's own driving loop.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { DeviceSession, Feature, featureBit } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { createVirtqueue } from '@vmv/queue';
import { PackedDriver, SplitDriver } from '@vmv/queue/driver';
import { EntropyDevice } from './support/readme-device/entropy-device';
import { README_DEVICE_FILE, counterSource, readmeDeviceBlock } from './support/readme';
import { FakeTransport, LIVE, S, writeFeatures } from './support/session';

const VERSION_1 = featureBit(Feature.VERSION_1);
const EVENT_IDX = featureBit(Feature.EVENT_IDX);
const RING_PACKED = featureBit(Feature.RING_PACKED);
const REQUESTS = 50;

/** The README device behind a session, live with `features`, one ring set up by the driver. */
function live(packed: boolean) {
  const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x10_0000) }]);
  const source = counterSource();
  const device = new EntropyDevice(source.fill);
  const transport = new FakeTransport();
  // The README device offers VERSION_1 | EVENT_IDX; a view of it adds RING_PACKED for the packed run.
  const served = packed ? Object.assign(Object.create(device) as EntropyDevice, { deviceFeatures: device.deviceFeatures | RING_PACKED }) : device;
  const session = new DeviceSession(served, transport);
  const features = VERSION_1 | EVENT_IDX | (packed ? RING_PACKED : 0n);
  const size = device.queueMaxSizes[0]!;
  const layout = packed ? PackedDriver.layout(size, 0x1_0000) : SplitDriver.layout(size, 0x1_0000);
  const options = { size, ...layout, eventIdx: true };
  const driver = packed ? new PackedDriver<number>(memory, options) : new SplitDriver<number>(memory, options);
  const config = driver.queueConfig(size);
  config.setFeatures(features);
  const queue = createVirtqueue(memory, config);
  transport.next = () => ({ memory, queues: [queue] });
  session.writeStatus(0);
  session.writeStatus(S.ACKNOWLEDGE);
  session.writeStatus(S.ACKNOWLEDGE | S.DRIVER);
  writeFeatures(session, features);
  session.writeStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
  session.writeStatus(LIVE);
  return { memory, source, session, transport, driver };
}

describe('the README device of @vmv/device-trait', () => {
  it('is the README text, verbatim', () => {
    expect(readFileSync(README_DEVICE_FILE, 'utf8')).toBe(readmeDeviceBlock());
  });

  for (const packed of [false, true]) {
    it(`serves ${REQUESTS} requests posted one at a time, each kicked because the device asked (hwrng, EVENT_IDX, ${packed ? 'packed' : 'split'} ring)`, () => {
      const m = live(packed);
      expect(m.session.negotiatedFeatures & EVENT_IDX).toBe(EVENT_IDX);
      const kicks: boolean[] = [];
      const completed: [number, number][] = [];
      for (let i = 0; i < REQUESTS; i++) {
        m.driver.add([], [{ addr: 0x8_0000, len: 32 }], i);
        const kick = m.driver.kickPrepare(); // virtqueue_kick_prepare: avail_event / the device's event suppression
        kicks.push(kick);
        if (kick) m.session.notify(0);
        // Waiting for the completion: the interrupt came (or the driver would sleep forever).
        expect(m.transport.usedInterrupts.length).toBe(i + 1);
        for (let u = m.driver.getBuf(); u !== null; u = m.driver.getBuf()) completed.push([u.token, u.len]);
        if (completed.length !== i + 1) break; // stalled: the assertions below say how
      }
      expect(kicks).toEqual(new Array<boolean>(REQUESTS).fill(true));
      expect(completed).toEqual(Array.from({ length: REQUESTS }, (_, i) => [i, 32]));
      expect(m.source.calls).toEqual(new Array<number>(REQUESTS).fill(32));
      const last = new Uint8Array(32);
      m.memory.read(0x8_0000, last);
      expect([...last]).toEqual(Array.from({ length: 32 }, (_, k) => (32 * (REQUESTS - 1) + k) & 0xff));
    });
  }
});
