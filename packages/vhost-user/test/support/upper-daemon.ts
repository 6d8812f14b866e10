/**
 * A tiny daemon on the kit, run as a real process by daemon.process.test.ts: UpperDevice per
 * socket. `--hang-drain` makes the drain never finish (to test the second signal); `--drain-log`
 * logs when drain and close run; `--packed` offers VIRTIO_F_RING_PACKED; `--hold` never
 * completes a request (inflight.process.test.ts kills it with requests in flight).
 */
import { runDaemon } from '@vmv/vhost-user/daemon';
import { PackedUpperDevice, UpperDevice } from '../devices';

void runDaemon({
  program: 'vmv-vhost-user-upper',
  deviceType: 'test',
  description: 'A test device: requests come back upper-cased.',
  version: '0.0.0-test',
  flags: {
    'hang-drain': { type: 'boolean', help: 'drain never finishes' },
    queues: { type: 'integer', min: 1, max: 4, default: 1, value: 'N', help: 'queues' },
    packed: { type: 'boolean', help: 'offer VIRTIO_F_RING_PACKED' },
    hold: { type: 'boolean', help: 'never complete a request' },
  },
  createDevice: (values, log, socket) => ({
    device: upper(values['queues'] as number, values['packed'] === true, values['hold'] === true),
    drain: () => {
      log.info('draining', { socket });
      return values['hang-drain'] === true ? new Promise<void>(() => undefined) : Promise.resolve();
    },
    close: () => {
      log.info('closed', { socket });
      return Promise.resolve();
    },
  }),
  signals: { SIGUSR1: (devices, log) => log.info(`SIGUSR1: ${devices.length} devices`) },
}).then((code) => process.exit(code));

function upper(queues: number, packed: boolean, hold: boolean): UpperDevice {
  const device = packed ? new PackedUpperDevice(queues) : new UpperDevice(queues);
  if (hold) device.mode = 'hold';
  return device;
}
