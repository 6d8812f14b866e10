// The guest test cases: each prepares a disk image on the host, boots the guest with some guest tests, then
// checks the image file on the host after the guest powered off and the backend exited.
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootGuest } from './boot.mjs';
import { qsdBackend, resolveBackend, vmvBackend } from './backends.mjs';
import { createImage, ensureGuestImage, md5Range, run, which } from './image.mjs';

const MiB = 1 << 20;
const md5 = async (buf) => (await import('node:crypto')).createHash('md5').update(buf).digest('hex');

function expectEq(errors, what, got, want) {
  if (got !== want) errors.push(`${what}: guest/host ${JSON.stringify(got)} != expected ${JSON.stringify(want)}`);
}

// guest/tests/blk.sh's layout: host-filled [0,4M) and the last MiB; guest-written [4M,8M) and [8M+12K,+20K)
export function prepareBlk(image, size) {
  createImage(image, size, { fill: [[0, 4 * MiB], [size - MiB, MiB]] });
  return { size, read: md5Range(image, 0, 4 * MiB), tail: md5Range(image, size - MiB, MiB) };
}
export function verifyBlk(r, image, st) {
  const e = [];
  const v = r.values;
  expectEq(e, 'device size', v.size, String(st.size));
  expectEq(e, 'host->guest [0,4M) read in 1 MiB requests', v['read-md5'], st.read);
  expectEq(e, 'host->guest [0,4M) read in 4 KiB requests', v['read4k-md5'], st.read);
  expectEq(e, 'host->guest last MiB', v['tail-md5'], st.tail);
  expectEq(e, 'guest->host [4M,8M) in the image file', md5Range(image, 4 * MiB, 4 * MiB), v['write-md5']);
  expectEq(e, 'guest->host small writes in the image file', md5Range(image, 8 * MiB + 12288, 20480), v['small-md5']);
  return e;
}

// ---------------------------------------------------------------------------------------------------------
// kill: the daemon SIGKILLed and restarted under load (guest/tests/kill.sh)

const KILLS = 10;
const KILL_DONE = 'VMVKILL-DONE';

/** mulberry32: a small seeded PRNG, so that a failing run's kill moments can be replayed (VMV_GUEST_SEED). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The blocks of [0, mib MiB) of the image that do not hold what kill.sh's generation lo..hi (hi default lo) writes
 * there: 'VMV', the generation byte, the block's offset (u64 LE), those 12 bytes repeated over the 4 KiB block.
 * @returns {{bad: number, first: string[]}}
 */
function checkGeneration(image, mib, lo, hi = lo) {
  const buf = readFileSync(image).subarray(0, mib * MiB);
  const unit = Buffer.alloc(12);
  const want = Buffer.alloc(4096);
  let bad = 0;
  const first = [];
  for (let off = 0; off < buf.length; off += 4096) {
    const got = buf.subarray(off, off + 4096);
    const gen = got[3];
    unit.write('VMV', 0, 'latin1');
    unit[3] = gen;
    unit.writeBigUInt64LE(BigInt(off), 4);
    for (let i = 0; i < 4096; i += 12) unit.copy(want, i, 0, Math.min(12, 4096 - i));
    if (gen >= lo && gen <= hi && got.equals(want)) continue;
    bad++;
    if (first.length < 5) {
      const units = new Set();
      for (let i = 0; i + 12 <= 4096; i += 12) units.add(got.subarray(i, i + 12).toString('hex'));
      first.push(`block at ${off}: ${units.size} distinct 12-byte units, first ${got.subarray(0, 12).toString('hex')}`);
    }
  }
  return { bad, first };
}

/**
 * The daemon's resident memory and open fd count, from /proc; null once it is gone. `rss` is its own memory
 * (RssAnon: heap, buffers, code's data); `shmem` the pages of the guest's shared RAM it has touched (RssShmem),
 * which grows with the guest addresses its I/O buffers have used, up to the guest's RAM, and is not the daemon's.
 */
function daemonUsage(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kib('RssAnon'), shmem: kib('RssShmem'), fds: readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return null;
  }
}

/**
 * Whether the soak's samples are flat after `warmup` seconds: the open fd count never changes, and the daemon's own
 * resident memory (RssAnon) has reached a plateau. The JavaScript heap grows in steps while its spaces find their
 * size, so one step after warm-up is allowed; what is not is memory still rising in the second half of the run:
 * its highest sample more than 1 MiB above the first half's, or a least-squares slope over it above 1 KiB/s (a
 * byte kept per request at 1,000 requests/s; the soak runs several thousand).
 * @returns {{errors: string[], summary: string}}
 */
export function flatness(samples, warmup) {
  const after = samples.filter((s) => s.t >= warmup);
  if (after.length < 60) return { errors: [`only ${after.length} samples after the ${warmup} s warm-up (of ${samples.length})`], summary: '' };
  const MiBf = (b) => (b / MiB).toFixed(1);
  const half = Math.floor(after.length / 2);
  const first = after.slice(0, half);
  const second = after.slice(half);
  const max = (xs) => Math.max(...xs.map((s) => s.rss));
  const n = second.length;
  const mt = second.reduce((a, s) => a + s.t, 0) / n;
  const mr = second.reduce((a, s) => a + s.rss, 0) / n;
  const slope = second.reduce((a, s) => a + (s.t - mt) * (s.rss - mr), 0) / second.reduce((a, s) => a + (s.t - mt) ** 2, 0);
  const fds = after.map((s) => s.fds);
  const errors = [];
  if (Math.min(...fds) !== Math.max(...fds)) errors.push(`open fds changed after warm-up: ${Math.min(...fds)}..${Math.max(...fds)}`);
  if (max(second) - max(first) > MiB) errors.push(`RSS still rising in the second half: highest ${MiBf(max(second))} MiB against ${MiBf(max(first))} MiB in the first`);
  if (slope > 1024) errors.push(`RSS grows ${(slope / 1024).toFixed(1)} KiB/s in the second half`);
  const summary = `daemon over ${samples.length} s (warm-up ${warmup} s): own RSS (RssAnon) ${MiBf(samples[0].rss)} MiB at start, `
    + `${MiBf(after[0].rss)} MiB after warm-up, highest ${MiBf(max(first))} MiB in the first half (${Math.round(first[0].t)}-${Math.round(first.at(-1).t)} s) `
    + `and ${MiBf(max(second))} MiB in the second (slope ${(slope / 1024).toFixed(2)} KiB/s), ${MiBf(samples.at(-1).rss)} MiB at the end; `
    + `guest RAM pages touched (RssShmem) ${MiBf(samples[0].shmem)} -> ${MiBf(samples.at(-1).shmem)} MiB; `
    + `open fds ${samples[0].fds} at start, ${Math.min(...fds)}..${Math.max(...fds)} after warm-up`;
  return { errors, summary };
}

/**
 * The cases of the guest matrix.
 * `backends`: the backends a case applies to (default all); `onConsoleLine`: a host action the guest asks for;
 * `fio`: boot the fio initramfs; `reconnect`: QEMU reconnects to a restarted backend; `vmvCache`: our daemon's
 * cache mode (see vmvBackend); `timeoutMs`: to the end marker; `summary`: what a passing run reports.
 * @type {Record<string, {title: string, tests: string[], size: number, readonly?: boolean, backends?: string[],
 *   fio?: boolean, reconnect?: boolean, vmvCache?: 'auto'|'direct'|'writeback', timeoutMs?: number,
 *   summary?: (st: object) => string,
 *   cmdline?: (st: object, o: object) => string[], prepare: (image: string, size: number) => object,
 *   onConsoleLine?: (line: string, run: import('./boot.mjs').GuestRun, st: object) => void,
 *   verify: (r: import('./boot.mjs').BootResult, image: string, st: object, o: object) => Promise<string[]>|string[]}>}
 */
/** The size of a log file (0 before it exists). */
function logSize(log) {
  try { return statSync(log).size; } catch { return 0; }
}

/**
 * Waits until the daemon's log (appended to across restarts) holds a "guest driver ready" line after byte `from`:
 * the frontend has connected to the daemon started there and the device runs. Rejects after 60 s (QEMU did not
 * reconnect).
 */
async function driverReady(log, from) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    let text = '';
    try { text = readFileSync(log, 'utf8'); } catch { /* not written yet */ }
    if (Buffer.from(text).subarray(from).includes('guest driver ready')) return;
    if (Date.now() > deadline) throw new Error(`QEMU did not reconnect to the restarted daemon within 60 s (no DRIVER_OK after byte ${from} of ${log})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * What the restarted daemons resubmitted from the inflight region, from their log (our daemon logs
 * "queue Q: resubmitting N requests ..."; another backend logs nothing, and that is said). Reported,
 * not required: whether a kill lands with requests in flight is a matter of timing.
 */
function resubmissions(log) {
  if (!log) return 'no backend log';
  let text;
  try { text = readFileSync(log, 'utf8'); } catch { return 'no backend log'; }
  const counts = [...text.matchAll(/resubmitting (\d+) requests? a previous backend left in flight/g)].map((m) => Number(m[1]));
  const n = counts.reduce((a, b) => a + b, 0);
  return `resubmitted from the inflight region: ${n} request${n === 1 ? '' : 's'} in ${counts.length} ring start${counts.length === 1 ? '' : 's'}`;
}

export const CASES = {
  blk: {
    title: 'host->guest and guest->host data, O_DIRECT + fsync, md5 on both sides',
    tests: ['smoke', 'blk'],
    size: 64 * MiB,
    cmdline: (st) => [`blk.size=${st.size}`],
    prepare: prepareBlk,
    verify: verifyBlk,
  },
  mq: {
    title: 'N queues: /sys/block/vda/mq has N entries; concurrent O_DIRECT writers pinned to each CPU',
    tests: ['smoke', 'blk', 'mq'],
    size: 64 * MiB,
    cmdline: (st, o) => [`blk.size=${st.size}`, `blk.queues=${o.queues}`],
    prepare: prepareBlk,
    verify(r, image, st, o) {
      const e = verifyBlk(r, image, st);
      expectEq(e, '/sys/block/vda/mq entries', r.values['mq-count'], String(o.queues));
      for (let i = 0; i < Math.min(o.queues, o.cpus ?? 2); i++) {
        expectEq(e, `guest->host pinned writer ${i} in the image file`, md5Range(image, 12 * MiB + 4 * MiB * i, 4 * MiB), r.values[`mq-write-${i}-md5`]);
      }
      return e;
    },
  },
  fs: {
    title: 'ext4 in the guest (mkfs, write, sync, umount, e2fsck, remount, verify); host e2fsck -fn + debugfs cat',
    tests: ['smoke', 'fs'],
    size: 128 * MiB,
    prepare(image, size) {
      createImage(image, size);
      return {};
    },
    /** @param {{files?: number}} [o]  how many files the guest wrote (6, plus its fs.many=) */
    async verify(r, image, { files = 6 } = {}) {
      const e = [];
      const e2fsck = which('e2fsck');
      const debugfs = which('debugfs');
      if (!e2fsck || !debugfs) return ['host e2fsck/debugfs missing (install e2fsprogs)'];
      try {
        await run(e2fsck, ['-fn', image]);
      } catch (err) {
        e.push(`host e2fsck -fn found problems: ${String(err.stdout).trim().slice(-600)}`);
      }
      const cat = (p) => run(debugfs, ['-R', `cat ${p}`, image], { encoding: 'buffer' });
      const sums = String(await cat('/MD5SUMS')).trim().split('\n').filter(Boolean).map((l) => l.split(/\s+/));
      if (sums.length !== files) e.push(`host: /MD5SUMS via debugfs has ${sums.length} entries, expected ${files}`);
      for (const [sum, name] of sums) {
        expectEq(e, `guest md5 of /${name}`, r.values[`fs-${name}-md5`], sum);
        expectEq(e, `host debugfs cat /${name}`, await md5(await cat(`/${name}`)), sum);
      }
      return e;
    },
  },
  resize: {
    title: 'online resize: the image grows while the guest runs (SIGUSR1 to the daemon), the guest sees the new size and writes past the old end',
    tests: ['smoke', 'resize'],
    size: 64 * MiB,
    backends: ['vmv'],
    prepare(image, size) {
      createImage(image, size);
      return { size, grown: size + 16 * MiB, requested: false };
    },
    onConsoleLine(line, run, st) {
      if (st.requested || !line.startsWith('GUEST-RESIZE-REQUEST ')) return;
      st.requested = true;
      truncateSync(run.disks[0].image, st.grown);
      process.kill(run.disks[0].pid, 'SIGUSR1');
    },
    verify(r, image, st) {
      const e = [];
      expectEq(e, 'capacity before (sectors)', r.values['old-sectors'], String(st.size / 512));
      expectEq(e, 'capacity after the host grew the image (sectors)', r.values['new-sectors'], String(st.grown / 512));
      expectEq(e, 'guest->host 1 MiB past the old end, in the image file', md5Range(image, st.size, MiB), r.values['resize-md5']);
      return e;
    },
  },
  kill: {
    title: `the daemon SIGKILLed ${KILLS} times under a QD32 two-queue O_DIRECT write load and restarted on the same socket; QEMU reconnects, resubmits from the inflight region; guest and host check every block`,
    tests: ['kill'],
    size: 64 * MiB,
    backends: ['vmv'],
    fio: true,
    reconnect: true,
    vmvCache: 'auto', // O_DIRECT when the image's filesystem has it: more requests in flight at each kill
    timeoutMs: 300_000,
    cmdline: (st) => [`kill.mib=${st.mib}`, `kill.gens=${st.gens}`],
    prepare(image, size, o) {
      createImage(image, size);
      const seed = Number(process.env.VMV_GUEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
      // QEMU before 9.1 never reconnects after a handshake that failed (vhost_user_async_close_bh skips the
      // disconnect callback that re-arms the chardev when vhost_dev_init's cleanup has zeroed the vhost_dev;
      // upstream "vhost-user: fix lost reconnect"). On Debian 12's QEMU 7.2 each kill therefore waits until QEMU
      // has reconnected to the previous restart and the device runs again (the daemon's DRIVER_OK line), so that
      // kills land in the write workload, not in QEMU's handshake. Trixie's QEMU 11.1 takes kills at any moment.
      const settle = o.guestImage?.platform?.name === 'bookworm';
      return { size, mib: 16, gens: KILLS, seed, rand: prng(seed), chain: Promise.resolve(), queued: 0, kills: [], phase: 'boot', ended: false, failed: null, settle, mark: 0 };
    },
    onConsoleLine(line, run, st) {
      const m = /^GUEST-KILL-PHASE (\w+) (\d+)/.exec(line);
      if (!m) return;
      st.log ??= run.disks[0].log;
      st.phase = `${m[1]} ${m[2]}`;
      if (m[1] === 'end') {
        st.ended = true;
        // the remaining kills happen now; then the host tells the guest (which polls the disk's last block) that
        // the daemon stays up
        st.chain = st.chain.then(async () => {
          while (st.kills.length < KILLS && !st.failed) await kill(0);
          const fd = openSync(run.disks[0].image, 'r+');
          writeSync(fd, Buffer.from(`${KILL_DONE}\n`), 0, KILL_DONE.length + 1, st.size - 4096);
          closeSync(fd);
        });
        return;
      }
      // one kill per generation, at a random moment 0 to 1 s into its write phase (TCG writes 16 MiB in 1-2 s)
      if (m[1] !== 'write' || st.kills.length + st.queued >= KILLS) return;
      st.queued++;
      const delay = Math.floor(st.rand() * 1000);
      st.chain = st.chain.then(() => new Promise((r) => setTimeout(r, delay))).then(async () => {
        st.queued--;
        if (!st.ended && st.kills.length < KILLS && !st.failed) await kill(delay);
      });
      async function kill(ms) {
        const t0 = performance.now();
        const during = st.phase;
        try {
          if (st.settle) await driverReady(run.disks[0].log, st.mark);
          st.mark = logSize(run.disks[0].log);
          await run.restartBackend(0);
          st.kills.push(`${during}+${ms}ms(${Math.round(performance.now() - t0)}ms)`);
        } catch (err) {
          st.failed = err.message;
        }
      }
    },
    async verify(r, image, st) {
      await st.chain;
      const e = [];
      if (st.failed) e.push(`restarting the daemon: ${st.failed}`);
      expectEq(e, 'daemon kills and restarts', st.kills.length, KILLS);
      expectEq(e, 'generations the guest completed', r.values['kill-gens'], String(st.gens));
      const { bad, first } = checkGeneration(image, st.mib, st.gens);
      if (bad) e.push(`host: ${bad} of ${st.mib * 256} blocks in the image file do not hold generation ${st.gens}: ${first.join('; ')}`);
      if (e.length) e.push(`seed ${st.seed} (VMV_GUEST_SEED), kills: ${st.kills.join(' ')}`);
      return e;
    },
    summary: (st) => `seed ${st.seed}, kills (phase+delay(restart)): ${st.kills.join(' ')}; ${resubmissions(st.log)}`,
  },
  soak: {
    title: 'soak (pnpm soak): mixed reads, writes, flushes and discards on two queues at QD32+ for soak.secs; the daemon\'s RSS and open fds sampled every second, flat after warm-up; every generation verified in the guest, the last one on the host',
    tests: ['soak'],
    size: 96 * MiB,
    backends: ['vmv'],
    fio: true,
    vmvCache: 'auto',
    cmdline: (st) => [`soak.secs=${st.secs}`, `soak.mib=${st.mib}`],
    prepare(image, size, o) {
      createImage(image, size);
      const secs = o.soakSeconds ?? 600;
      // warm-up: the first minute (a tenth of a short run); the rest must be flat
      return { secs, mib: 32, warmup: Math.min(60, Math.ceil(secs / 10)), samples: [], timer: null };
    },
    onConsoleLine(line, run, st) {
      if (line.startsWith('GUEST-SOAK start') && st.timer === null) {
        const t0 = performance.now();
        st.timer = setInterval(() => {
          const pid = run.disks[0].pid;
          const sample = pid === null ? null : daemonUsage(pid);
          if (sample !== null) st.samples.push({ t: (performance.now() - t0) / 1000, ...sample });
        }, 1000);
      } else if (line.startsWith('GUEST-SOAK end') && st.timer !== null) {
        clearInterval(st.timer);
      }
    },
    verify(r, image, st) {
      if (st.timer !== null) clearInterval(st.timer);
      const e = [];
      const gens = Number(r.values['soak-gens']);
      if (!(gens >= 1)) e.push(`the guest completed no generation (soak-gens ${r.values['soak-gens']})`);
      const last = Number(r.values['soak-last-gen']);
      const { bad, first } = checkGeneration(image, st.mib, last);
      if (bad) e.push(`host: ${bad} of ${st.mib * 256} blocks do not hold generation ${last}: ${first.join('; ')}`);
      st.flat = flatness(st.samples, st.warmup);
      st.samplesFile = join(r.workDir, 'soak-samples.tsv');
      writeFileSync(st.samplesFile, `seconds\trss_anon\trss_shmem\tfds\n${st.samples.map((x) => `${x.t.toFixed(1)}\t${x.rss}\t${x.shmem}\t${x.fds}`).join('\n')}\n`);
      if (st.flat.errors.length) e.push(`${st.flat.errors.join('; ')} (${st.flat.summary}; samples in ${st.samplesFile})`);
      st.mix = ['read', 'write', 'trim'].map((d) => r.values[`soak-mix-${d}`]).join('; ');
      st.gens = gens;
      return e;
    },
    summary: (st) => `${st.gens} generations of ${st.mib} MiB written and verified; background ${st.mix}; ${st.flat.summary} (samples: ${st.samplesFile})`,
  },
  'kill-qemu': {
    title: 'QEMU SIGKILLed during a QD32 two-queue O_DIRECT write load and a new one started on the same daemon and image: the new guest and the host find every block of a generation acknowledged or later, whole; the new guest writes and verifies one more',
    tests: ['kill'],
    size: 64 * MiB,
    backends: ['vmv'],
    fio: true,
    vmvCache: 'auto',
    timeoutMs: 300_000,
    cmdline: (st) => [`kill.mib=${st.mib}`, `kill.gens=${st.gens}`],
    prepare(image, size) {
      createImage(image, size);
      const seed = Number(process.env.VMV_GUEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
      const rand = prng(seed);
      // the kill: a random moment 0 to 1 s into the write phase of a generation from 2 to 5 (so generation 1 or
      // later is complete: the image holds no unwritten block)
      return { size, mib: 16, gens: 6, seed, killGen: 2 + Math.floor(rand() * 4), delay: Math.floor(rand() * 1000), lastWrite: 0,
        after: null, killed: false, hostCheck: null, guestFailures: [] };
    },
    onConsoleLine(line, run, st) {
      if (/^FAIL: |^GUEST-TEST \S+ FAIL/.test(line)) st.guestFailures.push(line);
      const m = /^GUEST-KILL-PHASE (\w+) (\d+)/.exec(line);
      if (!m) return;
      if (m[1] === 'write' && st.after === null) st.lastWrite = Number(m[2]);
      if (m[1] === 'write' && !st.killed) {
        if (st.lastWrite !== st.killGen) return;
        st.killed = true;
        setTimeout(() => {
          // the latest write phase the host has seen: every generation before it was complete (written, fsynced,
          // verified) before the guest printed it. The guest may be further on: later generations are allowed.
          st.after = st.lastWrite - 1;
          if (!run.restartFrontend([`kill.after=${st.after}`])) st.hostCheck = 'the run ended before QEMU could be killed';
        }, st.delay);
      } else if (m[1] === 'checked') {
        const { bad, first } = checkGeneration(run.disks[0].image, st.mib, st.after, st.gens);
        st.hostCheck = bad ? `host, after the new guest's check: ${bad} blocks hold no generation ${st.after}..${st.gens}: ${first.join('; ')}` : '';
        const fd = openSync(run.disks[0].image, 'r+');
        writeSync(fd, Buffer.from(`${KILL_DONE}\n`), 0, KILL_DONE.length + 1, st.size - 4096);
        closeSync(fd);
      }
    },
    verify(r, image, st) {
      const e = [];
      if (st.hostCheck === null) e.push('the new guest never reported its check of the first one\'s generations');
      else if (st.hostCheck) e.push(st.hostCheck);
      if (st.guestFailures.length) e.push(`the guest (first or second) failed: ${st.guestFailures.join(' | ')}`);
      expectEq(e, 'QEMU restarts', r.frontendRestarts, 1);
      expectEq(e, 'generations the second guest completed', r.values['kill-gens'], String(st.gens + 1));
      const { bad, first } = checkGeneration(image, st.mib, st.gens + 1);
      if (bad) e.push(`host: ${bad} of ${st.mib * 256} blocks in the image file do not hold generation ${st.gens + 1}: ${first.join('; ')}`);
      if (e.length) e.push(`seed ${st.seed} (VMV_GUEST_SEED): QEMU killed ${st.delay} ms into generation ${st.killGen}'s writes`);
      return e;
    },
    summary: (st) => `seed ${st.seed}: QEMU killed ${st.delay} ms into generation ${st.killGen}'s writes; generations ${st.after}..${st.gens} allowed after it`,
  },
  readonly: {
    title: 'read-only export: ro=1, writes refused, reads correct, image file unchanged',
    tests: ['smoke', 'readonly'],
    size: 64 * MiB,
    readonly: true,
    prepare(image, size) {
      createImage(image, size, { fill: [[0, 4 * MiB]] });
      return { read: md5Range(image, 0, 4 * MiB), whole: md5Range(image, 0, size) };
    },
    verify(r, image, st) {
      const e = [];
      expectEq(e, 'host->guest [0,4M)', r.values['read-md5'], st.read);
      expectEq(e, 'image file after the run', md5Range(image, 0, CASES.readonly.size), st.whole);
      return e;
    },
  },
};

const fmt = (x) => (x === null || x === undefined ? '-' : `${x.toFixed(1)} s`);

/**
 * Runs one case of the matrix: prepares its image, boots the guest, checks the image on the host.
 * @param {keyof typeof CASES} kind
 * @param {{machine?: 'microvm'|'q35', backend?: string|object, queues?: number, guestImage?: object,
 *   onConsoleLine?: (line: string, seconds: number) => void, onProgress?: (m: string) => void, keepWorkDir?: boolean}} [o]
 * @returns {Promise<{name: string, ok: boolean, seconds: number, details: string, errors: string[], boot: import('./boot.mjs').BootResult|null}>}
 * @example
 * const r = await runGuestCase('blk', { machine: 'q35', backend: 'qsd' });
 * console.log(r.name, r.ok ? 'PASS' : 'FAIL', r.details);
 */
export async function runGuestCase(kind, o = {}) {
  const c = CASES[kind];
  if (!c) throw new TypeError(`runGuestCase: unknown case ${kind} (${Object.keys(CASES).join(', ')})`);
  const machine = o.machine ?? 'microvm';
  const queues = o.queues ?? (kind === 'mq' ? 2 : 1);
  let backend = resolveBackend(o.backend ?? 'qsd');
  // a case may want our daemon on O_DIRECT (slower writes: more requests in flight when it is killed)
  if (backend.name === 'vmv' && c.vmvCache) backend = vmvBackend({ cache: c.vmvCache });
  const name = `${backend.name}/${machine}/${kind}${queues > 1 ? `-q${queues}` : ''}`;
  const t0 = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'vmv-case-'));
  const image = join(dir, 'disk.raw');
  let boot = null;
  let st = null;
  const errors = [];
  try {
    st = c.prepare(image, c.size, o);
    const bo = { queues, cpus: 2 };
    // a case running fio needs the platform's fio initramfs (built on first use)
    const guestImage = c.fio && !o.guestImage?.fioInitrd
      ? await ensureGuestImage({ platform: o.guestImage?.platform.name, fio: true, log: o.onProgress }) : o.guestImage;
    boot = await bootGuest({
      machine, backend, queues, tests: c.tests, image, readonly: Boolean(c.readonly), cmdline: c.cmdline?.(st, bo) ?? [],
      guestImage, onProgress: o.onProgress, keepWorkDir: true, fio: Boolean(c.fio), reconnect: Boolean(c.reconnect),
      timeoutMs: c.timeoutMs ?? (st.secs ? (st.secs + 300) * 1000 : undefined),
      onConsoleLine: (line, secs, run) => {
        c.onConsoleLine?.(line, run, st);
        o.onConsoleLine?.(line, secs, run);
      },
    });
    errors.push(...boot.errors);
    if (boot.marker) {
      try {
        errors.push(...await c.verify(boot, image, st, bo));
      } catch (err) {
        errors.push(`host-side check failed: ${err.message}`);
      }
    }
  } catch (err) {
    errors.push(`harness: ${err.stack ?? err.message}`);
  }
  const ok = errors.length === 0;
  const timing = boot ? `init ${fmt(boot.initSeconds)}, marker ${fmt(boot.markerSeconds)}, accel ${boot.accel}` : '';
  let details = timing;
  if (ok && c.summary) details += `; ${c.summary(st)}`;
  if (!ok) {
    details = `${errors.join('; ')}${timing ? ` [${timing}]` : ''}`;
    if (boot) details += `\n--- console (last 30 lines; logs in ${boot.workDir}, image ${image}) ---\n${boot.console.slice(-30).join('\n')}`;
  }
  if (ok && !o.keepWorkDir) {
    rmSync(dir, { recursive: true, force: true });
    if (boot) rmSync(boot.workDir, { recursive: true, force: true });
  }
  return { name, ok, seconds: (performance.now() - t0) / 1000, details, errors, boot };
}

/**
 * The default matrix for one backend: blk on microvm (virtio-mmio) and q35 (PCI), two queues on both, the
 * ext4 workload, a read-only export, an online resize on both machines, and the crash cases (daemon killed and
 * restarted; QEMU killed and replaced) on q35 with two queues (for backends the case applies to).
 * @returns {Array<{kind: string, machine: 'microvm'|'q35', queues: number}>}
 */
export function defaultMatrix() {
  return [
    { kind: 'blk', machine: 'microvm', queues: 1 },
    { kind: 'blk', machine: 'q35', queues: 1 },
    { kind: 'mq', machine: 'microvm', queues: 2 },
    { kind: 'mq', machine: 'q35', queues: 2 },
    { kind: 'fs', machine: 'microvm', queues: 1 },
    { kind: 'readonly', machine: 'q35', queues: 1 },
    { kind: 'resize', machine: 'microvm', queues: 1 },
    { kind: 'resize', machine: 'q35', queues: 1 },
    { kind: 'kill', machine: 'q35', queues: 2 },
    { kind: 'kill-qemu', machine: 'q35', queues: 2 },
  ];
}

/**
 * A check of the harness itself: qemu-storage-daemon serving a COPY of the prepared image must make the blk
 * case fail on exactly the guest->host checks (the guest's writes never reach the file the host inspects),
 * while the boot and the host->guest checks succeed. Passes when the harness catches the lost writes.
 * @param {{guestImage?: object, machine?: 'microvm'|'q35'}} [o]
 * @returns {Promise<{name: string, ok: boolean, seconds: number, details: string}>}
 * @example (await selfCheckLostWrites()).ok
 */
export async function selfCheckLostWrites(o = {}) {
  const t0 = performance.now();
  const q = qsdBackend();
  const copies = [];
  const onCopy = {
    name: 'qsd-on-a-copy',
    argv: (a) => {
      const copy = `${a.image}.copy`;
      copyFileSync(a.image, copy);
      copies.push(copy);
      return q.argv({ ...a, image: copy });
    },
  };
  const r = await runGuestCase('blk', { machine: o.machine ?? 'microvm', backend: onCopy, guestImage: o.guestImage, keepWorkDir: true });
  const want = ['guest->host [4M,8M) in the image file', 'guest->host small writes in the image file'];
  const problems = [];
  if (r.ok) problems.push('the harness did not notice writes that never reached the image file');
  if (!r.boot?.marker || r.boot.marker.fail !== 0) problems.push('the guest run itself failed');
  const reported = r.errors.map((e) => e.split(':')[0]);
  for (const w of want) if (!reported.includes(w)) problems.push(`expected the failure "${w}"`);
  const unexpected = reported.filter((e) => !want.includes(e));
  if (unexpected.length) problems.push(`unexpected failures: ${unexpected.join(', ')}`);
  const ok = problems.length === 0;
  if (r.boot) {
    rmSync(r.boot.workDir, { recursive: true, force: true });
    rmSync(join(r.boot.image, '..'), { recursive: true, force: true });
  }
  return {
    name: 'harness/detects-lost-writes',
    ok,
    seconds: (performance.now() - t0) / 1000,
    details: ok ? 'a backend serving a copy of the image was caught (guest->host checks failed, the rest passed)' : `${problems.join('; ')}\n${r.details}`,
  };
}

/**
 * Our daemon with `--workers 2` under the mq case on q35: each of the disk's two queues served by its own worker
 * thread, Linux's virtio_blk writing through both (one pinned writer per vCPU) and every byte checked on both sides
 * as in mq. The daemon's log must say that queue 0 went to worker 0 and queue 1 to worker 1: otherwise the main
 * thread served them and the case would show nothing about workers.
 * @param {{guestImage?: object, onConsoleLine?: Function, onProgress?: Function}} [o]
 * @returns {Promise<{name: string, ok: boolean, seconds: number, details: string}>}
 * @example (await workersCheck({ guestImage })).ok
 */
export async function workersCheck(o = {}) {
  const t0 = performance.now();
  const backend = vmvBackend({ args: ['--workers', '2', '--log-level', 'debug'] });
  const r = await runGuestCase('mq', { ...o, machine: 'q35', queues: 2, backend, keepWorkDir: true });
  const problems = [];
  let log = '';
  try {
    log = r.boot ? readFileSync(join(r.boot.workDir, 'backend.log'), 'utf8') : '';
  } catch (err) {
    problems.push(`the daemon's log: ${err.message}`);
  }
  for (const q of [0, 1]) if (!log.includes(`queue ${q} served by worker ${q}`)) problems.push(`the daemon's log does not say "queue ${q} served by worker ${q}"`);
  const ok = r.ok && problems.length === 0;
  if (ok && r.boot) {
    rmSync(r.boot.workDir, { recursive: true, force: true });
    rmSync(join(r.boot.image, '..'), { recursive: true, force: true });
  }
  const lent = (log.match(/served by worker \d/g) ?? []).length;
  return {
    name: 'vmv-workers/q35/mq-q2',
    ok,
    seconds: (performance.now() - t0) / 1000,
    details: ok ? `${r.details}; ${lent} ring starts served by the 2 workers` : [...problems, r.details].join('; '),
  };
}
