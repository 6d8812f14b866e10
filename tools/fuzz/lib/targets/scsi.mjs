/**
 * virtio-scsi (VIRTIO 1.2 §5.6) through ScsiDevice: a random accepted feature set, split or packed
 * rings of random size for the controlq, the eventq and a request queue, holding hostile chains
 * (lib/requests.mjs's chainLayer: pieces in any size, indirect tables, corrupted ring bytes).
 * Command requests carry any lun bytes (mostly Linux's format, some any), CDBs of the target's
 * opcodes with random fields (or random bytes), data-out and data-in of any length, the response
 * and the header cut short or long, the writable flag sometimes wrong; control requests are TMFs
 * and AN requests with any subtype and lun, or random bytes; event buffers of any length. LUNs are
 * added, removed and resized while commands run, and cdb_size / sense_size written at random; reads go through
 * bounce buffers or (directReads) straight into guest buffers.
 * Ring corruption must come out as DEVICE_NEEDS_RESET with a typed reason; nothing else.
 */
import { MemoryBackend } from '@vmv/block';
import { DEVICE_ERROR_NAMES, Feature, GUEST_MEMORY_ERROR_NAMES, featureBit } from '@vmv/device-trait';
import { QUEUE_ERROR_NAMES } from '@vmv/queue';
import { SUPPORTED_COMMANDS, ScsiConfigOffset, ScsiDevice, encodeLun } from '@vmv/scsi';
import { GuardedMemory } from '../guarded.mjs';
import { chainLayer, queueAt, resetLikeTransport } from '../requests.mjs';

const DATA = 0x3000; // buffers from here up (the three rings sit below)

export const scsiTarget = {
  name: 'scsi',
  description: 'virtio-scsi through ScsiDevice: hostile command, control and event chains, LUNs hot-plugged and resized meanwhile',
  maxLen: 4096,
  allowed: new Set([...QUEUE_ERROR_NAMES, ...GUEST_MEMORY_ERROR_NAMES, ...DEVICE_ERROR_NAMES]),
  setup() {
    return { g: new GuardedMemory() };
  },
  async run(state, src, report) {
    const { g } = state;
    g.clear();
    const first = src.u8();
    const packed = (first & 1) !== 0;
    // reads through the bounce buffers, or straight into the (guarded) guest buffers
    const device = new ScsiDevice({ numQueues: 1, queueSize: 16, directReads: (first & 2) !== 0 });
    device.bus.add(0, 0, { backend: new MemoryBackend(64 * 1024) });
    device.bus.add(0, 1, { backend: new MemoryBackend(16 * 1024), readOnly: true });
    if (src.u8() < 64) device.bus.add(1, 5, { backend: new MemoryBackend(8 * 1024) });
    if (src.u8() < 48) writeSize(device, ScsiConfigOffset.CDB_SIZE, src.u8() < 128 ? src.below(40) : src.u32());
    if (src.u8() < 48) writeSize(device, ScsiConfigOffset.SENSE_SIZE, src.u8() < 128 ? src.below(120) : src.u32());
    // What the target answered, as features: the corpus grows towards commands that get through.
    const execute = device.bus.execute.bind(device.bus);
    device.bus.execute = async (target, lun, request) => {
      const r = await execute(target, lun, request);
      report.feature(`op:${request.cdb[0]}:${r.overrun ? 'overrun' : r.status}`);
      return r;
    };
    const cdbSize = device.cdbSize;
    const senseSize = device.senseSize;
    let features = featureBit(Feature.VERSION_1) | (packed ? featureBit(Feature.RING_PACKED) : 0n);
    for (let bit = 0n; bit < 64n; bit++) if ((device.deviceFeatures >> bit) & 1n && src.u8() < 160) features |= 1n << bit;
    let next = DATA + 16 * src.below(4);
    const alloc = (len) => {
      const at = next;
      next += len + (src.u8() < 16 ? src.below(64) : 0);
      if (next + 64 >= g.lowSize) next = DATA;
      return at;
    };
    const put = (pieces, bytes, writable) => {
      // Cut into 1 to 3 pieces; now and then a piece outside guest memory or a wrong writable flag.
      let at = 0;
      const cuts = bytes.length === 0 ? 0 : 1 + src.below(3);
      for (let i = 0; i < cuts && at < bytes.length; i++) {
        const len = i === cuts - 1 ? bytes.length - at : 1 + src.below(bytes.length - at);
        const addr = src.u8() < 250 ? alloc(len) : g.address(src);
        try {
          g.memory.write(addr, bytes.subarray(at, at + len));
        } catch {
          // outside guest memory by design
        }
        pieces.push({ addr, len, writable: src.u8() < 252 ? writable : !writable });
        at += len;
      }
    };
    const lun = () => (src.u8() < 220 ? encodeLun(src.below(3), src.below(4)) : Uint8Array.from({ length: 8 }, () => src.u8()));

    const control = queueAt(src, g, packed, features, 0);
    const events = queueAt(src, g, packed, features, 0x1000);
    const requests = queueAt(src, g, packed, features, 0x2000);

    const cmdLayer = chainLayer(src, g, requests.ring, alloc);
    const commands = 1 + src.below(requests.ring.size);
    for (let r = 0; r < commands && !cmdLayer.full; r++) {
      const header = new Uint8Array(19 + Math.min(cdbSize, 64));
      header.set(lun(), 0);
      new DataView(header.buffer).setUint32(8, src.u32(), true);
      const c = src.pick(SUPPORTED_COMMANDS);
      header[19] = src.u8() < 230 ? c.opcode : src.u8();
      for (let i = 1; i < Math.min(c.usage.length, header.length - 19); i++) if (src.u8() < 96) header[19 + i] = src.u8() & (src.u8() < 200 ? c.usage[i] : 0xff);
      if (c.serviceAction !== undefined && header.length > 20) header[20] = c.serviceAction;
      if (src.u8() < 64 && header.length > 27) header[27] = 0; // small transfer lengths, so reads and writes get through
      const pieces = [];
      put(pieces, header.subarray(0, src.u8() < 240 ? header.length : src.below(header.length)), false);
      if (src.u8() < 96) put(pieces, new Uint8Array(src.below(1100)).fill(src.u8()), false);
      put(pieces, new Uint8Array(src.u8() < 240 ? 12 + senseSize : src.below(140)), true);
      if (src.u8() < 128) put(pieces, new Uint8Array(src.below(1100)), true);
      if (pieces.length > 0 && !cmdLayer.add(pieces)) break;
    }
    const made = cmdLayer.publish(24);

    const ctrlLayer = chainLayer(src, g, control.ring, alloc);
    for (let r = 0; r < 1 + src.below(3) && !ctrlLayer.full; r++) {
      const an = src.u8() < 64;
      const req = new Uint8Array(an ? 16 : 24);
      const v = new DataView(req.buffer);
      v.setUint32(0, an ? 1 + src.below(2) : src.u8() < 240 ? 0 : src.u32(), true);
      if (an) {
        req.set(lun(), 4);
        v.setUint32(12, src.u32(), true);
      } else {
        v.setUint32(4, src.u8() < 240 ? src.below(8) : src.u32(), true);
        req.set(lun(), 8);
        v.setUint32(16, src.below(8), true);
      }
      const pieces = [];
      put(pieces, req.subarray(0, src.u8() < 240 ? req.length : src.below(req.length)), false);
      put(pieces, new Uint8Array(src.u8() < 240 ? (an ? 5 : 1) : src.below(8)), true);
      if (pieces.length > 0 && !ctrlLayer.add(pieces)) break;
    }
    ctrlLayer.publish(16);

    const evLayer = chainLayer(src, g, events.ring, alloc);
    for (let r = 0; r < src.below(4) && !evLayer.full; r++) {
      const pieces = [];
      put(pieces, new Uint8Array(src.u8() < 220 ? 16 : src.below(24)), true);
      if (pieces.length > 0 && !evLayer.add(pieces)) break;
    }
    evLayer.publish(16);

    const queues = [control.queue, events.queue, requests.queue];
    device.activate({
      memory: g.memory, queues, features,
      interrupt: { signalUsedBuffer() {}, signalConfigChange() {} },
      needsReset(reason) {
        report.feature('needs-reset');
        report.error(reason);
      },
    });
    const rounds = 1 + src.below(3);
    for (let i = 0; i < rounds; i++) {
      device.queueNotify(2);
      if (src.u8() < 64) hotplug(src, device);
      device.queueNotify(0);
      device.queueNotify(1);
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (let i = 0; i < 8 && device.commandsInFlight > 0; i++) await new Promise((resolve) => setImmediate(resolve));
    report.feature(`made:${Math.min(made, 4)}:luns:${device.bus.addresses().length}`);
    if (device.commandsInFlight > 0) return `${device.commandsInFlight} commands still in flight on memory backends`;
    resetLikeTransport(device, queues);
    return g.check();
  },
};

function writeSize(device, offset, value) {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value >>> 0, true);
  device.writeConfig(offset, b);
}

function hotplug(src, device) {
  const target = src.below(2);
  const lun = src.below(4);
  const unit = device.bus.unit(target, lun);
  const op = src.below(3);
  if (unit === undefined) device.bus.add(target, lun, { backend: new MemoryBackend(512 * (1 + src.below(64))) });
  else if (op === 0) device.bus.remove(target, lun);
  else if (op === 1 && typeof unit.backend.resize === 'function') {
    unit.backend.resize(512 * (1 + src.below(128)));
    device.bus.resize(target, lun);
  } else device.bus.resize(target, lun, src.below(unit.capacity + 1));
}
