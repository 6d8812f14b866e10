/**
 * The event queue (VIRTIO 1.2 §5.14.6.5, §5.14.6.7, §5.14.6.10.4): jack events from the host,
 * one event per buffer, events waiting in a bounded queue while the driver has posted no buffer
 * (the oldest dropped and counted past it), short buffers returned empty, nothing before the
 * driver runs or after a reset.
 */
import { describe, expect, it } from '@jest/globals';
import { Event, Request, SoundDevice } from '@vmv/sound';
import { Harness, query } from './support/harness';

describe('jack events', () => {
  it('plugging and unplugging a jack: an event each time the state changes, and JACK_INFO follows', () => {
    const h = new Harness({ layout: { jacks: [{}, { direction: 'input' }] } });
    h.postEvents(4);
    h.device.setJackConnected(1, false);
    h.device.setJackConnected(1, false);
    h.device.setJackConnected(1, true);
    expect(h.events()).toEqual([[Event.JACK_DISCONNECTED, 1], [Event.JACK_CONNECTED, 1]]);
    h.device.setJackConnected(0, false);
    expect(h.events()).toEqual([[Event.JACK_DISCONNECTED, 0]]);
    const info = h.control(query(Request.JACK_INFO, 0, 2, 24), 52);
    expect([info[20], info[44]]).toEqual([0, 1]);
    expect(() => h.device.setJackConnected(2, true)).toThrow(RangeError);
  });

  it('before the driver runs no event is queued: it reads the state at probe', () => {
    const d = new SoundDevice({ layout: { jacks: [{}] } });
    d.setJackConnected(0, false);
    expect(d.pendingEvents).toBe(0);
    expect(d.layout.jacks[0]!.connected).toBe(false);
  });
});

describe('buffers', () => {
  it('events wait for buffers, in order; past the capacity the oldest is dropped and counted', () => {
    const h = new Harness({ layout: { jacks: [{}] }, eventCapacity: 3 });
    for (let i = 0; i < 5; i++) h.device.setJackConnected(0, i % 2 === 1);
    expect(h.device.pendingEvents).toBe(3);
    expect(h.device.stats.eventsDropped).toBe(2);
    h.postEvents(2);
    expect(h.events()).toEqual([[Event.JACK_DISCONNECTED, 0], [Event.JACK_CONNECTED, 0]]);
    h.postEvents(2);
    expect(h.events()).toEqual([[Event.JACK_DISCONNECTED, 0]]);
    expect(h.device.stats).toMatchObject({ eventsDelivered: 3, eventsDropped: 2 });
  });

  it('a buffer shorter than an event is returned empty and the event goes in the next', () => {
    const h = new Harness({ layout: { jacks: [{}] } });
    h.postEvents(1, 7);
    h.postEvents(1, 16);
    h.device.setJackConnected(0, false);
    const used = h.reap(1).map((u) => u.len);
    expect(used).toEqual([0, 8]);
    expect(h.device.stats.shortEventBuffers).toBe(1);
  });

  it('a reset drops the events waiting', () => {
    const h = new Harness({ layout: { jacks: [{}] } });
    h.device.setJackConnected(0, false);
    h.resetDevice();
    expect(h.device.pendingEvents).toBe(0);
    expect(h.device.stats.eventsDropped).toBe(1);
  });

  it('a kick on the event queue delivers what waits', () => {
    const h = new Harness({ layout: { jacks: [{}] } });
    h.device.setJackConnected(0, false);
    h.add(1, [], [8]);
    h.device.queueNotify(1);
    expect(h.events()).toEqual([[Event.JACK_DISCONNECTED, 0]]);
    expect(h.interrupts[1]).toBe(1);
  });
});
