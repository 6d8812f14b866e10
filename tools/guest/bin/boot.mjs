#!/usr/bin/env node
// Boots the test guest once, by hand:
//   node tools/guest/bin/boot.mjs [--platform bookworm|trixie] [--machine microvm|q35] [--backend qsd|vmv|builtin]
//        [--queues N] [--tests smoke,blk] [--case blk|mq|fs|readonly] [--image FILE] [--readonly] [--fio] [--keep] [--quiet]
// With --case, runs that matrix case (image prepared and checked on the host); otherwise boots with the
// given tests and image. Prints the console as it comes; exit 0 when everything passed.
import { bootGuest, ensureGuestImage, runGuestCase } from '../lib/guest.mjs';

const a = process.argv.slice(2);
const opt = (k, d) => (a.includes(k) ? a[a.indexOf(k) + 1] : d);
const quiet = a.includes('--quiet');
const guestImage = await ensureGuestImage({ platform: opt('--platform', 'bookworm'), fio: a.includes('--fio'), log: (l) => console.log(`harness: ${l}`) });
const common = {
  guestImage,
  machine: opt('--machine', 'microvm'),
  backend: opt('--backend', 'qsd'),
  queues: Number(opt('--queues', a.includes('--case') && opt('--case') === 'mq' ? '2' : '1')),
  onConsoleLine: quiet ? undefined : (l, s) => console.log(`[${s.toFixed(2).padStart(6)}] ${l}`),
  onProgress: (m) => console.log(`harness: ${m}`),
  keepWorkDir: a.includes('--keep'),
};
if (a.includes('--case')) {
  const r = await runGuestCase(opt('--case'), common);
  console.log(`${r.ok ? 'PASS' : 'FAIL'} ${r.name} ${r.seconds.toFixed(1)} s ${r.details}`);
  process.exit(r.ok ? 0 : 1);
}
const r = await bootGuest({
  ...common, tests: opt('--tests', 'smoke,blk').split(','), image: opt('--image'), readonly: a.includes('--readonly'),
  fio: a.includes('--fio'),
});
console.log(JSON.stringify({ ...r, console: `${r.console.length} lines` }, null, 2));
process.exit(r.ok ? 0 : 1);
