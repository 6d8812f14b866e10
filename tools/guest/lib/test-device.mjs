// A generic @vmv test device for real-guest checks of the platforms: any device ID, queue count, feature bits
// and config space, served out of process by @vmv/vhost-user (bin/test-device.mjs). It is what lets a real
// Linux driver bind to a device of a type we have not built yet (the out-of-tree gpio, i2c, spi and can
// drivers), and what QEMU's generic vhost-user-test-device-pci connects to.
//
// Each queue has a role:
//   complete  every chain is answered at once: its readable bytes are read (counted, md5 kept), its writable
//             bytes are filled with the fill byte, and it is returned with all of them written. A request queue
//             answered with zeros reads as "OK" to the gpio/i2c/spi drivers (status 0); a fill byte other than 0
//             makes an entropy source whose output the guest can recognise.
//   hold      chains are taken and kept until the device is reset, as a device does with receive buffers it
//             has nothing to put in yet (can rx, gpio events).
import { createHash } from 'node:crypto';
import { Feature, features, serveQueue } from '@vmv/device-trait';

/**
 * @typedef {object} TestDeviceSpec
 * @property {number} virtioId  the device ID (VIRTIO 1.2 §5)
 * @property {Array<'complete'|'hold'>} queues  one role per queue
 * @property {Uint8Array} [config]  the config space (read-only to the driver; default empty)
 * @property {number[]} [featureBits]  device-specific feature bits offered besides VERSION_1, EVENT_IDX, INDIRECT_DESC
 * @property {number} [fill=0]  the byte writable buffers of `complete` queues are filled with
 * @property {number} [queueSize=256]  each queue's maximum size
 */

/** The device (a VirtioDevice from @vmv/device-trait). */
export class TestDevice {
  /** @param {TestDeviceSpec} spec */
  constructor(spec) {
    if (!Number.isInteger(spec.virtioId) || spec.virtioId < 1 || spec.virtioId > 0xffff) throw new RangeError(`TestDevice: virtioId must be in 1..65535, got ${spec.virtioId}`);
    if (!Array.isArray(spec.queues) || spec.queues.length === 0 || spec.queues.some((q) => q !== 'complete' && q !== 'hold')) {
      throw new TypeError('TestDevice: queues must be a non-empty list of complete|hold');
    }
    this.deviceId = spec.virtioId;
    this.deviceFeatures = features(Feature.VERSION_1, Feature.EVENT_IDX, Feature.INDIRECT_DESC, ...(spec.featureBits ?? []));
    this.queueMaxSizes = spec.queues.map(() => spec.queueSize ?? 256);
    this.config = Uint8Array.from(spec.config ?? []);
    this.configSize = this.config.length;
    this.roles = spec.queues;
    this.fill = spec.fill ?? 0;
    this.ctx = null;
    this.held = [];
    this.activations = 0;
    this.stats = spec.queues.map(() => ({ chains: 0, readBytes: 0, writtenBytes: 0, held: 0 }));
    this.digests = spec.queues.map(() => createHash('md5'));
  }

  readConfig(offset, data) {
    data.fill(0);
    data.set(this.config.subarray(offset, offset + data.length));
  }

  writeConfig() { /* read-only config: writes are ignored */ }

  activate(ctx) {
    this.ctx = ctx;
    this.activations++;
  }

  queueNotify(index) {
    if (this.ctx) serveQueue(this.ctx, index, this.handle);
  }

  /** @type {import('@vmv/device-trait').ChainHandler} */
  handle = (c, served) => {
    const st = this.stats[served.index];
    st.chains++;
    if (this.roles[served.index] === 'hold') {
      this.held.push(c);
      st.held++;
      return;
    }
    const data = c.reader().readBytes(c.readableBytes);
    this.digests[served.index].update(data);
    st.readBytes += data.length;
    const n = c.writableBytes;
    if (n > 0) c.writer().write(new Uint8Array(n).fill(this.fill));
    st.writtenBytes += n;
    served.complete(c, n);
  };

  reset() {
    this.ctx = null;
    this.held = [];
  }

  /** Counters per queue, with the md5 of everything read from each (a snapshot). */
  report() {
    return this.stats.map((s, i) => ({ role: this.roles[i], ...s, readMd5: this.digests[i].copy().digest('hex') }));
  }
}

/** Parses a hex string ("0800 0000", "08000000") into bytes. */
export function parseHex(text) {
  const clean = String(text).replace(/[\s:]/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new TypeError(`not a hex byte string: ${text}`);
  return Uint8Array.from(clean.match(/../g) ?? [], (b) => parseInt(b, 16));
}
