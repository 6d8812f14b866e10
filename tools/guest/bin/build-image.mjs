#!/usr/bin/env node
// `pnpm --filter @vmv-tools/guest run build-image [--fio]`: installs host packages if needed and builds (or
// confirms) the cached guest kernel + initramfs images; prints their paths.
import { ensureGuestImage, ensureHostDeps } from '../lib/guest.mjs';

const fio = process.argv.includes('--fio');
if (!ensureHostDeps({ fio }).ok) process.exit(1);
const img = await ensureGuestImage({ fio, log: (l) => console.log(l) });
console.log(JSON.stringify(img, null, 2));
