/**
 * In process, as a Linux guest drives it: the virtio-mmio driver model (Linux 6.1's virtio_mmio.c
 * and virtio core) on an IoManager, the VirtioMmioTransport and the SoundDevice, in the order
 * Linux's virtio_snd probes (sound/virtio/virtio_card.c: queues, event buffers, config, JACK_INFO,
 * PCM_INFO, CHMAP_INFO, CTL_INFO) and plays (hw_params, prepare, pre-buffered periods, start,
 * drain, stop, release), on split and packed rings. Time is the fake clock.
 */
import { describe, expect, it } from '@jest/globals';
import { InMemoryInterruptController, IoManager, MmioRange } from '@vmv/bus';
import { Feature, hasFeature } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { MMIO_DEFAULT_REGION_SIZE, VirtioMmioTransport } from '@vmv/transport-mmio';
import { LINUX_6_1_TRANSPORT_FEATURES, VirtioMmioDriver } from '@vmv/transport-mmio/driver';
import { Request, SoundDevice, SoundFeature, SoundStatus, routeStreams } from '@vmv/sound';
import { FakeClock, clip, pcm, query, setParams } from './support/harness';

const BASE = 0xd000_0000;

async function machine(packed: boolean) {
  const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(8 << 20) }]);
  const clock = new FakeClock();
  const played: Uint8Array[] = [];
  const device = new SoundDevice({ clock, layout: { jacks: [{}] }, backend: routeStreams({ 0: { write: (f, done) => (played.push(f), done()) } }) });
  const irqs = new InMemoryInterruptController({ onDeliver: () => queueMicrotask(() => driver.interrupt()) });
  const io = new IoManager();
  io.registerMmio(new MmioRange(BASE, MMIO_DEFAULT_REGION_SIZE), new VirtioMmioTransport(device, { memory, interrupt: irqs.createLegacyGroup(5, 1, 'level') }));
  // Linux 6.1's transport features, with or without RING_PACKED
  const transportFeatures = LINUX_6_1_TRANSPORT_FEATURES.filter((f) => packed || f !== Feature.RING_PACKED);
  const driver = new VirtioMmioDriver({ bus: io, base: BASE, memory, ringMemory: { base: 0x10_0000, size: 0x10_0000 }, transportFeatures });
  driver.probe();
  const features = driver.negotiate([SoundFeature.CTLS]);
  const used: { len: number; token: number }[][] = [[], [], [], []];
  const queues = [0, 1, 2, 3].map((i) => driver.setupQueue<number>(i, { callback: (q) => { for (let u = q.getBuf(); u; u = q.getBuf()) used[i]!.push({ len: u.len, token: u.token }); } }));
  driver.ready();
  const settle = () => new Promise((r) => setImmediate(r));
  let next = 0x30_0000;
  const put = (bytes: Uint8Array) => {
    const addr = next;
    next += bytes.length + 64;
    memory.write(addr, bytes);
    return { addr, len: bytes.length };
  };
  const room = (len: number) => {
    const addr = next;
    next += len + 64;
    return { addr, len };
  };
  /** A control request as virtsnd_ctl_msg_send_sync sends it; resolves with the response. */
  const control = async (req: Uint8Array, responseLen = 4) => {
    const resp = room(responseLen);
    queues[0]!.add([put(req)], [resp], 0);
    queues[0]!.kick();
    await settle();
    const u = used[0]!.shift()!;
    const b = new Uint8Array(u.len);
    memory.read(resp.addr, b);
    return b;
  };
  const status = async (req: Uint8Array) => new DataView((await control(req)).buffer).getUint32(0, true);
  return { memory, clock, device, driver, features, queues, used, control, status, put, room, settle, played };
}

describe('over virtio-mmio with the Linux driver model', () => {
  for (const packed of [false, true]) {
    it(`${packed ? 'packed' : 'split'} ring: probe as virtio_snd does, then play and drain 100 ms exactly`, async () => {
      const m = await machine(packed);
      expect(hasFeature(m.features, SoundFeature.CTLS)).toBe(true);
      expect(hasFeature(m.features, Feature.RING_PACKED)).toBe(packed);
      for (let i = 0; i < 8; i++) m.queues[1]!.add([], [m.room(8)], i);
      m.queues[1]!.kick();
      expect(Array.from(new Uint32Array(m.driver.creadBytes(0, 16).slice().buffer))).toEqual([1, 2, 1, 4]);
      const jacks = await m.control(query(Request.JACK_INFO, 0, 1, 24), 4 + 24);
      expect(jacks.length).toBe(28);
      const pcms = await m.control(query(Request.PCM_INFO, 0, 2, 32), 4 + 64);
      expect([pcms[4 + 24], pcms[36 + 24]]).toEqual([0, 1]);
      expect((await m.control(query(Request.CHMAP_INFO, 0, 1, 24), 28)).length).toBe(28);
      expect((await m.control(query(Request.CTL_INFO, 0, 4, 96), 4 + 384)).length).toBe(388);
      // aplay: hw_params, prepare, the buffer pre-filled, start; 10 periods of 10 ms in all
      expect(await m.status(setParams({ bufferBytes: 4 * 1920, periodBytes: 1920 }))).toBe(SoundStatus.OK);
      expect(await m.status(pcm(Request.PCM_PREPARE, 0))).toBe(SoundStatus.OK);
      const data = clip(10 * 1920, 4);
      let sent = 0;
      const send = () => {
        m.queues[2]!.add([m.put(new Uint8Array([0, 0, 0, 0])), m.put(data.subarray(sent, sent + 1920))], [m.room(8)], sent);
        sent += 1920;
        m.queues[2]!.kick();
      };
      for (let i = 0; i < 4; i++) send();
      expect(await m.status(pcm(Request.PCM_START, 0))).toBe(SoundStatus.OK);
      let done = 0;
      while (done < 10) {
        m.clock.advance(1);
        await m.settle();
        for (const u of m.used[2]!.splice(0)) {
          expect(u.len).toBe(8);
          done++;
          if (sent < data.length) send();
        }
        if (m.clock.now() > 1000) throw new Error('stalled');
      }
      expect(m.clock.now()).toBe(100);
      expect(await m.status(pcm(Request.PCM_STOP, 0))).toBe(SoundStatus.OK);
      expect(await m.status(pcm(Request.PCM_RELEASE, 0))).toBe(SoundStatus.OK);
      expect(Buffer.concat(m.played).equals(Buffer.from(data))).toBe(true);
      m.device.setJackConnected(0, false);
      await m.settle();
      expect(m.used[1]!.map((u) => u.len)).toEqual([8]);
      expect(m.driver.needsReset()).toBe(false);
    });
  }
});
