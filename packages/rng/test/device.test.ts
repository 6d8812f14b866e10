/**
 * The device on one ring (VIRTIO 1.2 §5.4): features, config, every writable buffer filled with
 * the used length exactly the bytes written, readable buffers untouched, a chain with no writable
 * buffer, sources synchronous and asynchronous, short and long answers, failures, resets with a
 * source call in flight, and a corrupted ring.
 */
import { describe, expect, it, jest } from '@jest/globals';
import { RngDevice, MAX_SOURCE_REQUEST, isRngError, webCryptoSource } from '@vmv/rng';
import type { RngError } from '@vmv/rng';
import { DeviceId, Feature, featureBit } from '@vmv/device-trait';
import { Harness, counterBytes, counterSource, flush } from './support/harness';

describe('RngDevice description', () => {
  it('is an entropy device with one queue, no config and VERSION_1 + ring features', () => {
    const d = new RngDevice();
    expect(d.deviceId).toBe(DeviceId.ENTROPY);
    expect(d.deviceId).toBe(4);
    expect(d.queueMaxSizes).toEqual([1024]);
    expect(d.configSize).toBe(0);
    expect(d.deviceFeatures).toBe(featureBit(Feature.VERSION_1) | featureBit(Feature.INDIRECT_DESC) | featureBit(Feature.EVENT_IDX));
    const c = new Uint8Array(4).fill(9);
    d.readConfig(0, c);
    expect([...c]).toEqual([0, 0, 0, 0]);
    d.writeConfig();
    expect(new RngDevice({ ringFeatures: featureBit(Feature.RING_PACKED) }).deviceFeatures).toBe(featureBit(Feature.VERSION_1) | featureBit(Feature.RING_PACKED));
  });

  it('refuses bad options with labelled errors', () => {
    expect(() => new RngDevice({ queueSize: 100 })).toThrow(RangeError);
    expect(() => new RngDevice({ queueSize: 65536 })).toThrow(/queueSize/);
    expect(() => new RngDevice({ ringFeatures: featureBit(Feature.IN_ORDER) })).toThrow(/ringFeatures/);
    expect(() => new RngDevice({ source: 5 as never })).toThrow(TypeError);
    expect(() => new RngDevice(null as never)).toThrow(TypeError);
  });
});

describe('filling chains', () => {
  it('fills every writable buffer from the source; used len = bytes written; readable buffers untouched', async () => {
    const c = counterSource();
    const h = new Harness({ device: { source: c.source } });
    const d = await h.submit([{ len: 5, writable: false }, { len: 7, writable: true }, { len: 1, writable: true, gap: 3 }, { len: 20, writable: true }]);
    expect(d.len).toBe(28);
    expect([...d.written]).toEqual([...counterBytes(0, 28)]);
    expect([...d.readable]).toEqual(new Array(5).fill(0xee));
    expect(h.device.stats).toMatchObject({ requests: 1, bytes: 28, empty: 0, short: 0 });
  });

  it('a chain with no writable buffer is returned with used len 0, its buffers untouched, and no source call', async () => {
    const c = counterSource();
    const h = new Harness({ device: { source: c.source } });
    const d = await h.submit([{ len: 16, writable: false }]);
    expect(d.len).toBe(0);
    expect([...d.readable]).toEqual(new Array(16).fill(0xee));
    expect(c.calls).toEqual([]);
    expect(h.device.stats.empty).toBe(1);
  });

  it('bytes reach the guest in the source order across chains', async () => {
    const c = counterSource();
    const h = new Harness({ device: { source: c.source } });
    const ps = [h.add([{ len: 3, writable: true }]), h.add([{ len: 300, writable: true }]), h.add([{ len: 1, writable: true }])];
    h.kick();
    const ds = await Promise.all(ps);
    expect(ds.map((d) => d.len)).toEqual([3, 300, 1]);
    expect([...ds[1]!.written]).toEqual([...counterBytes(3, 300)]);
    expect([...ds[2]!.written]).toEqual([...counterBytes(303, 1)]);
  });

  it('asks at most MAX_SOURCE_REQUEST bytes at once (Web Crypto\'s limit) and fills a 200000-byte chain', async () => {
    const c = counterSource();
    const h = new Harness({ device: { source: c.source } });
    const d = await h.submit([{ len: 100_000, writable: true }, { len: 100_000, writable: true }]);
    expect(d.len).toBe(200_000);
    expect(c.calls).toEqual([65536, 65536, 65536, 200_000 - 3 * 65536]);
    expect(Math.max(...c.calls)).toBeLessThanOrEqual(MAX_SOURCE_REQUEST);
  });

  it('the default source is Web Crypto, and fills more than 65536 bytes', async () => {
    const h = new Harness();
    const d = await h.submit([{ len: 70_000, writable: true }], { fill: 0 });
    expect(d.len).toBe(70_000);
    // 70000 random bytes: every byte value appears, and the tail (past 65536) is not left zero
    expect(new Set(d.written).size).toBe(256);
    expect(d.written.subarray(65536).some((b) => b !== 0)).toBe(true);
    const s = webCryptoSource()(100_000) as Uint8Array;
    expect(s.length).toBe(100_000);
  });

  it('an asynchronous source: short answers are asked again, long answers cut', async () => {
    let pos = 0;
    const calls: number[] = [];
    const source = jest.fn(async (n: number) => {
      calls.push(n);
      await Promise.resolve();
      const give = calls.length === 1 ? 3 : n + 10; // first a short read, then more than asked
      const b = new Uint8Array(give).map((_, i) => (pos + i) & 0xff);
      pos += Math.min(give, n);
      return b;
    });
    const h = new Harness({ device: { source } });
    const d = await h.submit([{ len: 10, writable: true }, { len: 6, writable: true }]);
    expect(d.len).toBe(16);
    expect(calls).toEqual([16, 13]);
    expect([...d.written]).toEqual([...counterBytes(0, 16)]);
  });

  it('serves one chain at a time: never two source calls in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const source = async (n: number) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
      return new Uint8Array(n).fill(1);
    };
    const h = new Harness({ device: { source } });
    const ps = Array.from({ length: 8 }, () => h.add([{ len: 8, writable: true }]));
    h.kick();
    expect((await Promise.all(ps)).map((d) => d.len)).toEqual(new Array(8).fill(8));
    expect(most).toBe(1);
  });
});

describe('source failures', () => {
  it('a source that runs out: a chain with bytes is returned short; the next waits and is reported, until a reset', async () => {
    let left = 10;
    const errors: RngError[] = [];
    const h = new Harness({ device: { source: (n) => { const k = Math.min(n, left); left -= k; return new Uint8Array(k).fill(7); }, onSourceError: (e) => errors.push(e) } });
    const d = await h.submit([{ len: 16, writable: true }]);
    expect(d.len).toBe(10); // real bytes, honestly counted; never padded
    expect(h.device.stats.short).toBe(1);
    expect(errors.map((e) => e.name)).toEqual(['Rng.SourceExhaustedError']);
    let settled = false;
    void h.submit([{ len: 16, writable: true }]).then(() => (settled = true));
    void h.add([{ len: 4, writable: true }]).then(() => (settled = true));
    h.kick();
    await flush();
    expect(settled).toBe(false); // never zero bytes handed over as entropy
    expect(errors.length).toBe(2);
    // a reset releases the held chain (the queue drops it) and the device serves a new activation
    h.reset();
    left = 100;
    h.activate();
    expect((await h.submit([{ len: 4, writable: true }])).len).toBe(4);
  });

  it('a source that throws, rejects or returns no bytes array: Rng.SourceError, nothing written, never an exception out', async () => {
    for (const source of [
      () => { throw new Error('boom'); },
      () => Promise.reject(new Error('gone')),
      () => 'text' as never,
      () => Promise.resolve(null as never),
    ]) {
      const errors: RngError[] = [];
      const h = new Harness({ device: { source, onSourceError: (e) => errors.push(e) } });
      let done = false;
      void h.submit([{ len: 8, writable: true }]).then(() => (done = true));
      await flush();
      expect(done).toBe(false);
      expect(errors.length).toBe(1);
      expect(isRngError(errors[0], 'Rng.SourceError')).toBe(true);
      expect(h.read(0x10_0000, 8).every((b) => b === 0xee)).toBe(true);
      expect(h.device.stats.sourceErrors).toBe(1);
    }
  });
});

describe('resets and hostile rings', () => {
  it('a reset while the source answers: the bytes are not written into guest memory, and the device serves again', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    const source = async (n: number) => {
      if (calls++ === 0) await gate;
      return new Uint8Array(n).fill(0x11);
    };
    const h = new Harness({ device: { source } });
    void h.submit([{ len: 32, writable: true }], { fill: 0xee });
    await flush();
    h.reset();
    release();
    await flush();
    expect(h.read(0x10_0000, 32).every((b) => b === 0xee)).toBe(true);
    expect(h.device.stats.bytes).toBe(0);
    h.activate();
    const d = await h.submit([{ len: 8, writable: true }]);
    expect(d.len).toBe(8);
    expect(h.device.stats.bytes).toBe(8);
  });

  it('a corrupted ring is reported as DEVICE_NEEDS_RESET, never thrown', () => {
    const h = new Harness();
    void h.add([{ len: 8, writable: true }]);
    h.memory.writeU16(Number(h.driver.queueConfig(64).driverArea) + 2, 1000); // avail idx far ahead
    expect(() => h.kick()).not.toThrow();
    expect(h.needsReset.length).toBe(1);
  });

  it('kicks on other queue indices and before activation are ignored', () => {
    const d = new RngDevice();
    expect(() => d.queueNotify(0)).not.toThrow();
    const h = new Harness();
    expect(() => h.device.queueNotify(3)).not.toThrow();
  });
});
