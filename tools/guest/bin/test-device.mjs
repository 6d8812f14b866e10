#!/usr/bin/env node
// Serves a generic @vmv test device (lib/test-device.mjs) over vhost-user until SIGTERM:
//   node tools/guest/bin/test-device.mjs --socket PATH --virtio-id N [--queues complete,hold,...]
//        [--config HEX] [--features BIT,BIT] [--fill BYTE] [--queue-size N]
// Logs the backend's events on stderr; on SIGTERM prints one line `TESTDEV-STATS <json>` on stdout (per queue:
// role, chains, readBytes, writtenBytes, held, readMd5; and activations) and exits 0.
// Needs the built packages (@vmv/vhost-user and @vmv/device-trait dist/).
import { VhostUserBackend } from '@vmv/vhost-user';
import { TestDevice, parseHex } from '../lib/test-device.mjs';

const a = process.argv.slice(2);
const opt = (k, d) => {
  const i = a.indexOf(k);
  return i >= 0 ? a[i + 1] : d;
};
const usage = () => {
  process.stderr.write('usage: test-device.mjs --socket PATH --virtio-id N [--queues complete,hold,...] [--config HEX] [--features BIT,...] [--fill BYTE] [--queue-size N]\n');
  process.exit(2);
};
const socket = opt('--socket');
const virtioId = Number(opt('--virtio-id'));
if (!socket || !Number.isInteger(virtioId)) usage();
let device;
try {
  device = new TestDevice({
    virtioId,
    queues: opt('--queues', 'complete').split(','),
    config: parseHex(opt('--config', '')),
    featureBits: opt('--features', '').split(',').filter(Boolean).map(Number),
    fill: Number(opt('--fill', '0')),
    queueSize: Number(opt('--queue-size', '256')),
  });
} catch (e) {
  process.stderr.write(`test-device: ${e.message}\n`);
  process.exit(2);
}
const backend = new VhostUserBackend(device, {
  onEvent: (e) => process.stderr.write(`test-device: ${e.type}${e.type === 'rejected' ? `: ${e.reason}` : ''}${e.type === 'disconnected' && e.error ? `: ${e.error.message ?? e.error}` : ''}\n`),
});
backend.listen(socket, { removeStale: true });
process.stderr.write(`test-device: virtio-id ${virtioId}, queues ${device.roles.join(',')}, config ${device.configSize} bytes, features 0x${device.deviceFeatures.toString(16)}\n`);
const stop = () => {
  backend.close();
  process.stdout.write(`TESTDEV-STATS ${JSON.stringify({ activations: device.activations, queues: device.report() })}\n`);
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
