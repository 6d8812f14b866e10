// The virtio-rng device's real-guest tests: vmv-vhost-user-rng (packages/vhost-user-rng) behind QEMU's own
// vhost-user-rng-pci (QEMU 7.2 and 11.1), the kernel's virtio_rng and hwrng core.
//   rng/read   the hwrng core picks virtio_rng; the guest reads 1 MiB from /dev/hwrng with --rng-source a file of known
//              random bytes: they are that file's bytes, in order (4 KiB md5s), less the kernel's own reads, each found;
//              the daemon's count of bytes written into guest buffers is exactly the guest's bytes plus the kernel's
//              reads plus what virtio_rng holds ahead (at most its one 64-byte buffer)
//   rng/rate   --period 1000 --max-bytes 4096: the guest reads 8 periods' worth at the limit (at most 10 % above, at least 80 %)
// The kernel runs with rng_core.default_quality=0: the hwrng core credits no entropy. Its kthread still reads 64 bytes
// once per reseed interval (1 s, growing with uptime/2 in the first two minutes: random.c crng_reseed_interval), so
// the read check finds those reads rather than assume there are none (packages/rng/README.md, "What Linux reads").
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCheck } from './checks.mjs';
import { REPO_ROOT } from './util.mjs';

/** The daemon (built: packages/vhost-user-rng/dist). */
export const RNG_DAEMON_BIN = join(REPO_ROOT, 'packages', 'vhost-user-rng', 'dist', 'cjs', 'bin.js');

/** The hwrng core reads no entropy for the pool in the background. */
const QUIET_CORE = 'rng_core.default_quality=0';

/** A vmv-vhost-user-rng device behind vhost-user-rng-pci; its socket file ends in 0, as `-s P` listens on `P0`. */
function rngDevice(args) {
  return {
    name: 'vmv-rng',
    socketFile: 'rng.sock0',
    argv: ({ socket }) => [process.execPath, RNG_DAEMON_BIN, '-s', socket.slice(0, -1), ...args],
    qemuDevice: (c) => `vhost-user-rng-pci,chardev=${c}`,
  };
}

/** The daemon's own count at stop: `served N bytes in M requests`. */
function served(r) {
  const e = r.backendExits.find((x) => x.backend === 'vmv-rng');
  const m = e && /served (\d+) bytes in (\d+) requests/.exec(readFileSync(e.log, 'utf8'));
  const read = e && /read (\d+) bytes from /.exec(readFileSync(e.log, 'utf8'));
  return m ? { bytes: Number(m[1]), requests: Number(m[2]), sourceRead: read ? Number(read[1]) : null } : null;
}

const PIECE = 4096;
/** What the hwrng core asks of a driver at a time (rng_buffer_size(): SMP_CACHE_BYTES on x86). */
const CORE_READ = 64;

/** The most hwrng kthread reads one 4 KiB piece may hold: on a busy host the guest can stall mid-piece for longer than
 * the reseed interval, so two (rarely three) kthread reads can fall between the guest's 64 reads of one piece. */
const MAX_SKIPS = 3;

/**
 * Where the guest's bytes are in the source file: the guest's stream is the file's, in order, less the reads the kernel
 * made itself (before the guest's read: any number of bytes; during it: whole 64-byte reads of the hwrng kthread,
 * which wakes once per reseed interval even with quality 0, each between two of the guest's 64-byte reads). Each
 * 4 KiB piece's md5 is matched at the position the previous one ended, with 0 to MAX_SKIPS kernel reads at 64-byte
 * boundaries in it (fewest first). Returns the offset the guest's bytes start at and the kernel reads found, or the
 * first piece that matches nowhere.
 */
export function locatePieces(file, md5s) {
  const md5 = (bytes) => createHash('md5').update(bytes).digest('hex');
  let at = -1;
  for (let off = 0; off <= 4096 && at < 0; off += 8) if (md5(file.subarray(off, off + PIECE)) === md5s[0]) at = off;
  if (at < 0) return { error: 'the first 4 KiB piece is not in the first 8 KiB of the source file' };
  const offset = at;
  const skips = [];
  at += PIECE;
  for (let i = 1; i < md5s.length; i++) {
    let found = null;
    for (let n = 0; n <= MAX_SKIPS && !found; n++) found = skipsIn(file, at, md5s[i], n);
    if (!found) return { error: `4 KiB piece ${i} is not the file's next 4 KiB with up to ${MAX_SKIPS} 64-byte kernel reads in it` };
    skips.push(...found);
    at += PIECE + found.length * CORE_READ;
  }
  return { offset, skips, end: at };
}

/**
 * The file offsets of `n` 64-byte kernel reads that make the 4 KiB from `at` hash to `want`, or null. A depth-first
 * walk over where each read falls (after the guest's k-th 64-byte read, k ascending), the hash of the prefix copied
 * rather than recomputed.
 */
function skipsIn(file, at, want, n) {
  const walk = (hash, pos, taken, left, skipped) => {
    // `taken` guest bytes hashed so far, the file read up to `pos`; `left` kernel reads still to place
    if (left === 0) {
      return hash.update(file.subarray(pos, pos + PIECE - taken)).digest('hex') === want ? skipped : null;
    }
    for (let k = taken; k <= PIECE; k += CORE_READ) {
      const h = hash.copy().update(file.subarray(pos, pos + k - taken));
      const r = walk(h, pos + k - taken + CORE_READ, k, left - 1, [...skipped, pos + k - taken]);
      if (r) return r;
    }
    return null;
  };
  return walk(createHash('md5'), at, 0, n, []);
}

/**
 * rng/read: `bytes` read by the guest are the source file's, in order, and accounted for exactly.
 * @param {object} img  a guest image (ensureGuestImage)
 * @param {object} hooks  log, onConsoleLine
 * @param {number} bytes  what the guest reads (a multiple of 4 KiB)
 */
export function rngReadCheck(img, hooks = {}, bytes = 1 << 20) {
  const name = `${img.platform.name}/rng/read`;
  const dir = mkdtempSync(join(tmpdir(), 'vmv-rng-'));
  const file = join(dir, 'known.bin');
  const data = randomBytes(bytes + (64 << 10));
  writeFileSync(file, data);
  let summary = '';
  return runCheck(name, img, {
    ...hooks,
    devices: [rngDevice(['--rng-source', file])],
    tests: ['rng'], cmdline: ['rng.mode=read', `rng.bytes=${bytes}`, QUIET_CORE],
    verify(r) {
      const v = r.values;
      if (v['rng.read'] !== String(bytes)) return [`the guest read ${v['rng.read']} bytes, not ${bytes}`];
      const md5s = Array.from({ length: bytes / PIECE }, (_, i) => v[`rng.piece.${i}`]);
      if (md5s.some((m) => !m)) return ['the guest did not report every 4 KiB piece'];
      const loc = locatePieces(data, md5s);
      if (loc.error) return [`the guest's bytes are not the source file's in order: ${loc.error}`];
      const s = served(r);
      if (!s) return ['the daemon logged no "served" line at stop'];
      // written into guest buffers = the kernel's reads before the guest's + the guest's + the kernel's during it
      // + after it: what virtio_rng holds ahead (its one 64-byte buffer, filled and not yet consumed), and a kthread
      // read in the instant between the guest's read and its switching the hwrng to none, if one fell there
      const kernel = loc.offset + loc.skips.length * CORE_READ;
      const ahead = s.bytes - loc.end;
      const e = [];
      if (s.sourceRead !== s.bytes) e.push(`the daemon read ${s.sourceRead} bytes from the source file but wrote ${s.bytes} into guest buffers`);
      const bound = v['rng.stopped'] === '1' ? 2 * CORE_READ : Infinity;
      if (ahead < 0 || ahead > bound || ahead % CORE_READ !== 0) {
        e.push(`the daemon wrote ${s.bytes} bytes into guest buffers; the guest read ${bytes}, the kernel ${kernel} (${loc.offset} before, `
          + `${loc.skips.length} x 64 during): ${ahead} after it, not 0, 64 or 128 (virtio_rng's one buffer held ahead, one kthread read)`);
      }
      const seconds = Number(v['rng.seconds']);
      summary = `${bytes} B = the source file's bytes in order (4 KiB md5s); daemon read from the file and wrote ${s.bytes} B in ${s.requests} buffers = `
        + `guest ${bytes} + kernel ${kernel} (${loc.offset} before, ${loc.skips.length} x 64 by the hwrng kthread during) + ${ahead} after it (${v['rng.stopped'] === '1' ? 'at most 128: virtio_rng\'s buffer posted ahead, a core read before the switch to none' : 'the hwrng kthread not stopped'}); `
        + `${seconds > 0 ? `${Math.round(bytes / seconds)} B/s` : 'rate n/a'} unthrottled (${v['rng.seconds']} s)`;
      return e;
    },
    summary: () => summary,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  });
}

/**
 * rng/rate: with --period P --max-bytes B the guest's read rate over whole periods is B/P: never more than 10 % above
 * (the limiter's promise), and not below 80 % (a limiter that withheld periods). The guest first falls in step with
 * the periods, so the read takes exactly `periods` periods plus its own delay (see rng.sh), which on a loaded host
 * reached almost a whole period (8 periods of 1 s read in 8,940 ms in CI): hence the looser bound below.
 */
export function rngRateCheck(img, hooks = {}, { periodMs = 1000, maxBytes = 4096, periods = 8 } = {}) {
  const name = `${img.platform.name}/rng/rate`;
  let summary = '';
  return runCheck(name, img, {
    ...hooks,
    devices: [rngDevice(['--period', String(periodMs), '--max-bytes', String(maxBytes)])],
    tests: ['rng'], cmdline: ['rng.mode=rate', `rng.chunk=${maxBytes}`, `rng.periods=${periods}`, `rng.period-ms=${periodMs}`, QUIET_CORE],
    verify(r) {
      const got = Number(r.values['rng.rate-bytes']);
      const ms = Number(r.values['rng.rate-ms']);
      if (got !== maxBytes * periods || !(ms > 0)) return [`the guest read ${got} bytes in ${ms} ms`];
      const limit = maxBytes / (periodMs / 1000);
      const rate = got / (ms / 1000);
      summary = `${got} bytes in ${ms} ms: ${Math.round(rate)} B/s, limit ${limit} B/s (${((rate / limit - 1) * 100).toFixed(1)} %)`;
      if (rate > limit * 1.1) return [`read rate ${Math.round(rate)} B/s is more than 10 % above the limit ${limit} B/s (${summary})`];
      return rate >= limit * 0.8 ? [] : [`read rate ${Math.round(rate)} B/s is below 80 % of the limit ${limit} B/s (${summary})`];
    },
    summary: () => summary,
  });
}
