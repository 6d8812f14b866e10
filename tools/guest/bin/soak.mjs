#!/usr/bin/env node
// `pnpm soak [--minutes N | --seconds N] [--platform bookworm|trixie]`: the real-guest soak (not in CI). Our
// vmv-vhost-user-blk serves a q35 guest with two queues for N minutes (default 10) of mixed I/O (guest/tests/soak.sh);
// the daemon's RSS and open fd count are sampled every second and must be flat after warm-up, every generation of
// writes is verified in the guest and the last one on the host. Prints the figures; exits 1 on any failure.
import { detectAccel, ensureGuestImage, ensureHostDeps, runGuestCase, vmvAvailable, VMV_DAEMON_BIN } from '../lib/guest.mjs';

const args = process.argv.slice(2);
const opt = (k) => (args.includes(k) ? args[args.indexOf(k) + 1] : undefined);
const seconds = opt('--seconds') !== undefined ? Number(opt('--seconds')) : Number(opt('--minutes') ?? 10) * 60;
const platform = opt('--platform') ?? 'bookworm';
if (!Number.isInteger(seconds) || seconds < 60 || !['bookworm', 'trixie'].includes(platform)) {
  console.error('usage: pnpm soak [--minutes N | --seconds N (at least 60)] [--platform bookworm|trixie]');
  process.exit(2);
}
if (!vmvAvailable()) {
  console.error(`soak: ${VMV_DAEMON_BIN} does not exist (pnpm build first)`);
  process.exit(2);
}
const deps = ensureHostDeps({ quiet: true, platforms: [platform], fio: true });
if (!deps.ok) {
  console.error(`soak: host dependencies missing:\n${deps.output}`);
  process.exit(2);
}
const img = await ensureGuestImage({ platform, fio: true, log: (l) => console.log(l) });
console.log(`soak: ${seconds} s on ${platform} (${img.platform.title}), accel ${detectAccel().accel}`);
const r = await runGuestCase('soak', { machine: 'q35', queues: 2, backend: 'vmv', guestImage: img, soakSeconds: seconds, keepWorkDir: true, onProgress: (l) => console.log(l) });
console.log(`${r.ok ? 'PASS' : 'FAIL'} ${platform}/${r.name} ${r.seconds.toFixed(1)} s\n${r.details}`);
process.exit(r.ok ? 0 : 1);
