#!/usr/bin/env node
// `pnpm --filter @vmv-tools/guest run build-image [--platform bookworm|trixie|all] [--fio]`: installs host packages
// if needed and builds (or confirms) each platform's cached guest kernel and initramfs; prints what it has.
import { ensureGuestImage, ensureHostDeps, platformNames } from '../lib/guest.mjs';

const a = process.argv.slice(2);
const platforms = platformNames(a.includes('--platform') ? a[a.indexOf('--platform') + 1] : 'all');
const fio = a.includes('--fio');
if (!ensureHostDeps({ fio, platforms }).ok) process.exit(1);
for (const platform of platforms) {
  const img = await ensureGuestImage({ platform, fio, log: (l) => console.log(l) });
  const { platform: p, ...rest } = img;
  console.log(JSON.stringify({ ...rest, platform: p.name, qemu: p.qemu, qsd: p.qsd, root: p.root }, null, 2));
}
