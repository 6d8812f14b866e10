/**
 * The device's description of itself: feature bits, the configuration space (golden bytes),
 * the writable cache-mode field, resize with a config-change notification, snapshot/restore,
 * and the checks on the embedder's options.
 */
import { describe, expect, it } from '@jest/globals';
import { BLOCK_CONFIG_SIZE, BlockConfigOffset, BlockDevice, BlockFeature, MemoryBackend, decodeBlockConfig, isBlockError } from '@vmv/block';
import type { BlockBackend } from '@vmv/block';
import { DeviceId, Feature, featureBit, hasFeature } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { Harness, requestBytes } from './harness';

const B = BlockFeature;

function config(device: BlockDevice): Uint8Array {
  const out = new Uint8Array(device.configSize);
  device.readConfig(0, out);
  return out;
}

function bits(f: bigint): number[] {
  const out: number[] = [];
  for (let i = 0; i < 64; i++) if (hasFeature(f, i)) out.push(i);
  return out;
}

describe('BlockDevice: features and configuration space', () => {
  it('defaults: VERSION_1, EVENT_IDX, INDIRECT_DESC, SEG_MAX, FLUSH, CONFIG_WCE, WRITE_ZEROES and DISCARD when the backend has it', () => {
    const d = new BlockDevice({ backend: new MemoryBackend(1 << 20) });
    expect(d.deviceId).toBe(DeviceId.BLOCK);
    expect(d.queueMaxSizes).toEqual([256]);
    expect(d.configSize).toBe(BLOCK_CONFIG_SIZE);
    expect(bits(d.deviceFeatures)).toEqual([B.SEG_MAX, B.FLUSH, B.CONFIG_WCE, B.DISCARD, B.WRITE_ZEROES, Feature.INDIRECT_DESC, Feature.EVENT_IDX, Feature.VERSION_1].sort((a, b) => a - b));
    const c = decodeBlockConfig(config(d));
    expect(c.capacity).toBe(2048n);
    expect(c.segMax).toBe(254);
    expect(c.writeback).toBe(1);
    expect(c.numQueues).toBe(1);
    expect(c.maxDiscardSectors).toBe(0x3fffff);
    expect(c.maxDiscardSeg).toBe(32);
    expect(c.discardSectorAlignment).toBe(1);
    expect(c.writeZeroesMayUnmap).toBe(0);
  });

  it('golden bytes of a fully configured device', () => {
    const d = new BlockDevice({
      backend: new MemoryBackend(0x10_0000),
      numQueues: 4,
      queueSize: 128,
      sizeMax: 0x1_0000,
      segMax: 126,
      geometry: { cylinders: 0x0102, heads: 0x03, sectors: 0x04 },
      blkSize: 4096,
      topology: { physicalBlockExp: 1, alignmentOffset: 2, minIoSize: 0x0304, optIoSize: 0x05060708 },
      writeback: false,
      discard: { maxSectors: 0x11, maxSegments: 0x12, alignment: 0x13 },
      writeZeroes: { maxSectors: 0x21, maxSegments: 0x22, mayUnmap: true },
      secureErase: { maxSectors: 0x31, maxSegments: 0x32, alignment: 0x33 },
      lifetime: { preEolInfo: 0, deviceLifetimeEstTypA: 0, deviceLifetimeEstTypB: 0 },
    });
    const hex = Buffer.from(config(d)).toString('hex');
    expect(hex).toBe(
      [
        '0008000000000000', // capacity 2048
        '00000100', // size_max 65536
        '7e000000', // seg_max 126
        '0201', '03', '04', // geometry
        '00100000', // blk_size 4096
        '01', '02', '0403', '08070605', // topology
        '00', '00', '0400', // writeback, unused0, num_queues
        '11000000', '12000000', '13000000', // discard
        '21000000', '22000000', '01', '000000', // write zeroes
        '31000000', '32000000', '33000000', // secure erase
        '00'.repeat(24), // zoned
      ].join(''),
    );
    expect(bits(d.deviceFeatures)).toEqual(
      [B.SIZE_MAX, B.SEG_MAX, B.GEOMETRY, B.BLK_SIZE, B.FLUSH, B.TOPOLOGY, B.CONFIG_WCE, B.MQ, B.DISCARD, B.WRITE_ZEROES, B.LIFETIME, B.SECURE_ERASE, Feature.INDIRECT_DESC, Feature.EVENT_IDX, Feature.VERSION_1].sort((a, b) => a - b),
    );
    expect(d.queueMaxSizes).toEqual([128, 128, 128, 128]);
  });

  it('a read-only device offers RO and none of the write-type commands; the config reads at any offset and width', () => {
    const d = new BlockDevice({ backend: new MemoryBackend(4096, { readOnly: true }), discard: true, secureErase: true });
    expect(d.readOnly).toBe(true);
    expect(hasFeature(d.deviceFeatures, B.RO)).toBe(true);
    for (const b of [B.DISCARD, B.WRITE_ZEROES, B.SECURE_ERASE]) expect(hasFeature(d.deviceFeatures, b)).toBe(false);
    const two = new Uint8Array(2);
    d.readConfig(1, two);
    expect([...two]).toEqual([0, 0]);
    d.readConfig(0, two);
    expect([...two]).toEqual([8, 0]);
  });

  it('ringFeatures replaces the default ring features (packed rings on request)', () => {
    const d = new BlockDevice({ backend: new MemoryBackend(4096), ringFeatures: featureBit(Feature.RING_PACKED) });
    expect(hasFeature(d.deviceFeatures, Feature.RING_PACKED)).toBe(true);
    expect(hasFeature(d.deviceFeatures, Feature.EVENT_IDX)).toBe(false);
    expect(() => new BlockDevice({ backend: new MemoryBackend(4096), ringFeatures: 1n << 5n })).toThrow(RangeError);
    // Per-queue reset is implemented (queueReset / queueEnable); in-order completion is not.
    expect(hasFeature(new BlockDevice({ backend: new MemoryBackend(4096), ringFeatures: featureBit(Feature.RING_RESET) }).deviceFeatures, Feature.RING_RESET)).toBe(true);
    expect(() => new BlockDevice({ backend: new MemoryBackend(4096), ringFeatures: featureBit(Feature.IN_ORDER) })).toThrow(/IN_ORDER/);
  });

  it('writeback is driver-writable only once CONFIG_WCE is negotiated, only as one byte; other fields are not', () => {
    const d = new BlockDevice({ backend: new MemoryBackend(4096) });
    d.writeConfig(BlockConfigOffset.writeback, new Uint8Array([0]));
    expect(d.writeback).toBe(true); // not negotiated yet
    d.validateFeatures(d.deviceFeatures);
    d.writeConfig(BlockConfigOffset.writeback, new Uint8Array([0, 0]));
    expect(d.writeback).toBe(true);
    d.writeConfig(BlockConfigOffset.writeback, new Uint8Array([0]));
    expect(d.writeback).toBe(false);
    d.writeConfig(BlockConfigOffset.writeback, new Uint8Array([7]));
    expect(config(d)[BlockConfigOffset.writeback]).toBe(1);
    d.writeConfig(0, new Uint8Array(8).fill(0xff));
    expect(decodeBlockConfig(config(d)).capacity).toBe(8n);
    d.reset();
    expect(d.writeback).toBe(true);
    d.writeConfig(BlockConfigOffset.writeback, new Uint8Array([0]));
    expect(d.writeback).toBe(true);
  });

  it('validateFeatures accepts any subset', () => {
    const d = new BlockDevice({ backend: new MemoryBackend(4096) });
    expect(d.validateFeatures(featureBit(Feature.VERSION_1))).toBe(true);
    expect(d.validateFeatures(d.deviceFeatures)).toBe(true);
  });
});

describe('BlockDevice: resize', () => {
  it('changes the capacity and tells the transport (which bumps the generation and notifies)', () => {
    const backend = new MemoryBackend(4096);
    const h = new Harness({ device: { backend }, memSize: 4 << 20 });
    backend.resize(8192);
    h.device.resize();
    expect(h.device.capacity).toBe(16);
    expect(decodeBlockConfig(config(h.device)).capacity).toBe(16n);
    expect(h.configChanges).toBe(1);
    h.device.resize(16n);
    expect(h.configChanges).toBe(1); // unchanged: no notification
    h.device.resize(4);
    expect(h.configChanges).toBe(2);
    expect(() => h.device.resize(17)).toThrow(RangeError);
    expect(() => h.device.resize(-1)).toThrow(RangeError);
    expect(() => h.device.resize(1.5)).toThrow(RangeError);
    expect(() => h.device.resize(1n << 70n)).toThrow(RangeError);
  });

  it('tells the attached transport even before activation or after a reset (it bumps the generation; it decides on the interrupt)', () => {
    const backend = new MemoryBackend(4096);
    const d = new BlockDevice({ backend });
    let host = 0;
    let irq = 0;
    d.attach({ configChanged: () => host++ });
    d.resize(4);
    expect(host).toBe(1);
    d.activate({ memory: GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(4096) }]), queues: [null], features: d.deviceFeatures, interrupt: { signalUsedBuffer: () => undefined, signalConfigChange: () => irq++ }, needsReset: () => undefined });
    d.resize(6);
    d.reset();
    d.resize(8);
    expect([host, irq]).toEqual([3, 0]);
  });

  it('without a transport host, signals the config change through the activation', () => {
    const backend = new MemoryBackend(4096);
    const d = new BlockDevice({ backend });
    let signals = 0;
    d.activate({ memory: GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(4096) }]), queues: [null], features: d.deviceFeatures, interrupt: { signalUsedBuffer: () => undefined, signalConfigChange: () => signals++ }, needsReset: () => undefined });
    d.resize(4);
    expect(signals).toBe(1);
    d.reset();
    d.resize(2);
    expect(signals).toBe(1);
  });

  it('serves the new capacity at once', async () => {
    const backend = new MemoryBackend(4096);
    const h = new Harness({ device: { backend }, memSize: 4 << 20 });
    expect((await h.submit({ readable: requestBytes(1, 8, new Uint8Array(512)), writable: 1 })).status).toBe(1);
    backend.resize(8192);
    h.device.resize();
    expect((await h.submit({ readable: requestBytes(1, 8, new Uint8Array(512)), writable: 1 })).status).toBe(0);
  });
});

describe('BlockDevice: snapshot and restore', () => {
  it('round-trips capacity and cache mode as JSON', () => {
    const backend = new MemoryBackend(8192);
    const a = new BlockDevice({ backend });
    a.resize(8);
    a.validateFeatures(a.deviceFeatures);
    a.writeConfig(BlockConfigOffset.writeback, new Uint8Array([0]));
    const saved = JSON.parse(JSON.stringify(a.snapshot()));
    expect(saved).toEqual({ capacity: '8', writeback: 0 });
    const b = new BlockDevice({ backend });
    b.restore(saved);
    expect(b.capacity).toBe(8);
    expect(b.writeback).toBe(false);
    expect(config(b)).toEqual(config(a));
  });

  it.each([null, 1, {}, { capacity: 8, writeback: 0 }, { capacity: '-1', writeback: 0 }, { capacity: '17', writeback: 0 }, { capacity: '8', writeback: 2 }, { capacity: '1e3', writeback: 0 }])('refuses %j with Block.InvalidSnapshotError', (bad) => {
    const d = new BlockDevice({ backend: new MemoryBackend(8192) });
    try {
      d.restore(bad);
      throw new Error('accepted');
    } catch (e) {
      expect(isBlockError(e, 'Block.InvalidSnapshotError')).toBe(true);
    }
  });
});

describe('BlockDevice: options', () => {
  const backend = new MemoryBackend(4096);
  it.each<[string, object, typeof TypeError | typeof RangeError]>([
    ['no backend', { backend: undefined }, TypeError],
    ['a backend without flush', { backend: { size: 0, read() {}, write() {} } }, TypeError],
    ['a size that is not whole sectors', { backend: { size: 1000, read() {}, write() {}, flush() {} } }, RangeError],
    ['a negative size', { backend: { size: -512, read() {}, write() {}, flush() {} } }, RangeError],
    ['0 queues', { backend, numQueues: 0 }, RangeError],
    ['a queue size that is not a power of two', { backend, queueSize: 100 }, RangeError],
    ['maxInflight above the queue size', { backend, queueSize: 8, maxInflight: 9 }, RangeError],
    ['blkSize 1000', { backend, blkSize: 1000 }, RangeError],
    ['sizeMax below 4096', { backend, sizeMax: 512 }, RangeError],
    ['CONFIG_WCE without FLUSH', { backend, flush: false, configWce: true }, RangeError],
    ['a 21-byte serial', { backend, serial: 'x'.repeat(21) }, RangeError],
    ['a non-ASCII serial', { backend, serial: 'disk\u00e9' }, RangeError],
    ['a reserved lifetime value', { backend, lifetime: { preEolInfo: 4, deviceLifetimeEstTypA: 0, deviceLifetimeEstTypB: 0 } }, RangeError],
    ['0 discard segments', { backend, discard: { maxSegments: 0 } }, RangeError],
    ['discard alignment 0', { backend, discard: { alignment: 0 } }, RangeError],
    ['geometry heads 256', { backend, geometry: { cylinders: 1, heads: 256, sectors: 1 } }, RangeError],
  ])('refuses %s', (_name, opts, error) => {
    expect(() => new BlockDevice(opts as never)).toThrow(error);
  });

  it('takes read-only from the backend unless told otherwise', () => {
    const ro: BlockBackend = { size: 4096, readOnly: true, read() {}, write() {}, flush() {} };
    expect(new BlockDevice({ backend: ro }).readOnly).toBe(true);
    expect(new BlockDevice({ backend, readOnly: true }).readOnly).toBe(true);
  });

  it('offers SECURE_ERASE and LIFETIME when the backend implements them', () => {
    const b: BlockBackend = { size: 4096, read() {}, write() {}, flush() {}, secureErase() {}, lifetime: () => ({ preEolInfo: 1, deviceLifetimeEstTypA: 1, deviceLifetimeEstTypB: 1 }) };
    const d = new BlockDevice({ backend: b });
    expect(hasFeature(d.deviceFeatures, B.SECURE_ERASE)).toBe(true);
    expect(hasFeature(d.deviceFeatures, B.LIFETIME)).toBe(true);
    expect(hasFeature(new BlockDevice({ backend: b, secureErase: false }).deviceFeatures, B.SECURE_ERASE)).toBe(false);
  });
});
