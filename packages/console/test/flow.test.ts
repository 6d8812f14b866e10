/**
 * Flow control both ways through one port, with the Linux driver model: 8 MiB host → guest with
 * the guest's reader stalled at random (no receive buffers posted), 8 MiB guest → host with the
 * host's endpoint slow at random (its `done` late). Seeded; nothing lost (SHA-256 both ways),
 * host bytes buffered stay under the bound, and the device holds at most one piece at the endpoint.
 */
import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { ConsoleDevice } from '@vmv/console';
import { LinuxConsole, until } from './support/linux-console';

const TOTAL = 8 << 20;
const HWM = 64 * 1024;
const CHUNK = 16 * 1024;

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pattern(seed: number, n: number): Uint8Array {
  const r = prng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const v = (r() * 0x1_0000_0000) >>> 0;
    out[i] = v & 0xff; out[i + 1] = (v >>> 8) & 0xff; out[i + 2] = (v >>> 16) & 0xff; out[i + 3] = v >>> 24;
  }
  return out;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe.each([['split', false, 0x1234], ['packed', true, 0x5678]] as const)('%s rings', (_n, packed, seed) => {
  it('8 MiB each way through one port, both readers stalled at random: nothing lost, memory bounded', async () => {
    const rand = prng(seed);
    const device = new ConsoleDevice({ ports: [{}, { name: 'bulk' }], highWaterMark: HWM, transmitInFlight: 4 });
    const guest = new LinuxConsole(device, { packed });
    guest.probe();
    await until(() => guest.ports[1]!.added);
    const port = device.port(1);

    const toGuest = pattern(seed, TOTAL);
    const toHost = pattern(seed + 1, TOTAL);
    const hostGot = createHash('sha256');
    let hostBytes = 0;
    let atEndpoint = 0;
    let mostAtEndpoint = 0;
    const slow: (() => void)[] = [];
    let sent = 0;
    let paused = false;
    const pump = () => {
      while (sent < TOTAL && !paused) {
        const n = Math.min(CHUNK, TOTAL - sent);
        paused = !port.write(toGuest.subarray(sent, sent + n));
        sent += n;
      }
    };
    port.connect({
      write: (data, done) => {
        atEndpoint++;
        mostAtEndpoint = Math.max(mostAtEndpoint, atEndpoint);
        hostGot.update(data);
        hostBytes += data.length;
        const finish = () => { atEndpoint--; done(); };
        if (rand() < 0.3) slow.push(finish); // the host side is slow: accepted later
        else finish();
      },
      drain: () => { paused = false; pump(); },
    });
    guest.open(1);
    pump();

    const guestGot = createHash('sha256');
    let guestBytes = 0;
    let written = 0;
    for (let turn = 0; guestBytes < TOTAL || hostBytes < TOTAL; turn++) {
      if (turn > 2_000_000) throw new Error(`stuck: guest has ${guestBytes}, host has ${hostBytes}`);
      const r = rand();
      if (r < 0.1) guest.stall(true);
      else if (r < 0.3) guest.stall(false);
      if (written < TOTAL) written += guest.write(1, toHost.subarray(written, Math.min(TOTAL, written + 64 * 1024)));
      if (slow.length > 0 && rand() < 0.5) slow.splice(0).forEach((f) => f());
      const got = guest.take(1);
      guestGot.update(got);
      guestBytes += got.length;
      await new Promise((resolve) => setImmediate(resolve));
      if (guestBytes >= TOTAL) guest.stall(false);
    }
    expect(guestBytes).toBe(TOTAL);
    expect(hostBytes).toBe(TOTAL);
    expect(guestGot.digest('hex')).toBe(sha(toGuest));
    expect(hostGot.digest('hex')).toBe(sha(toHost));
    // Host → guest: at most the high-water mark plus one write waited, whatever the guest did.
    expect(port.maxBuffered).toBeLessThan(HWM + CHUNK);
    expect(port.maxBuffered).toBeGreaterThanOrEqual(HWM); // the reader did stall: the bound was reached
    // Guest → host: one piece at a time at the endpoint; the guest waited meanwhile.
    expect(mostAtEndpoint).toBe(1);
    expect(guest.driver.needsReset()).toBe(false);
  }, 300_000);
});
