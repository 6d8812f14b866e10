// virtio-vsock SEQPACKET end to end (VIRTIO 1.2 §5.10.6, seqpacket boundaries): a @vmv/vsock device served by the
// harness's own host program (bin/vsock-seqpacket.mjs: the hybrid unix socket of the daemon carries bytes only)
// behind QEMU's vhost-user-vsock-pci, the kernel's vmw_vsock_virtio_transport and Debian's socat as a SEQPACKET echo
// (guest/tests/vsock-seq.sh).
//   vsock/seqpacket   the host connects to the guest's port 7000 as SEQPACKET and sends 10,000 seeded messages of
//                     log-uniform sizes from 1 byte to 64 KiB (1 and 65536 included); each echo must come back whole,
//                     in order, with its length and md5; then the host shuts down and the guest's socat exits 0
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCheck } from './checks.mjs';
import { MODULES } from './vsock.mjs';
import { PACKAGE_DIR } from './util.mjs';

const HOST_BIN = join(PACKAGE_DIR, 'bin', 'vsock-seqpacket.mjs');
const PORT = 7000;

/** The host program's result line (`seqpacket: ...`) from its log, or null. */
function resultLine(r) {
  const e = r.backendExits.find((x) => x.backend === 'vmv-vsock-seqpacket');
  return (e && /^seqpacket: (.*)$/m.exec(readFileSync(e.log, 'utf8'))?.[1]) ?? null;
}

/**
 * vsock/seqpacket on one platform.
 * @param {object} img  a guest image (ensureGuestImage)
 * @param {object} hooks  log, onConsoleLine
 * @param {{count?: number, seed?: number}} [o]  messages and the seed of their sizes and bytes
 */
export function vsockSeqpacketCheck(img, hooks = {}, { count = 10_000, seed = 1 } = {}) {
  return runCheck(`${img.platform.name}/vsock/seqpacket`, img, {
    ...hooks,
    modules: MODULES, packages: ['socat'], programs: ['socat'],
    devices: [{
      name: 'vmv-vsock-seqpacket',
      argv: ({ socket }) => [process.execPath, HOST_BIN, '--socket', socket, '--port', String(PORT), '--count', String(count), '--seed', String(seed)],
      qemuDevice: (c) => `vhost-user-vsock-pci,chardev=${c}`,
    }],
    tests: ['vsock-seq'], cmdline: [`vseq.port=${PORT}`],
    verify(r) {
      const e = [];
      const line = resultLine(r);
      const m = line && /^(\d+) messages, \d+ bytes each way, boundaries, order and md5s kept/.exec(line);
      if (!m || Number(m[1]) !== count) e.push(`the host program: ${line ?? 'no result line'}`);
      if (r.values['vseq.socat'] !== '0') e.push(`the guest's socat exited with ${r.values['vseq.socat']}`);
      return e;
    },
    summary: (r) => `${resultLine(r)}; the guest's socat exited 0`,
  });
}
