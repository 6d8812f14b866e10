/**
 * A queue worker script for the tests (bundled by queue-workers.test.ts): UpperDevice, as the
 * main thread serves it, except that a request reading "crash" throws out of the worker's event
 * loop (an uncaught exception ends the thread) and one reading "reset" asks for a reset.
 */
import { runQueueWorker } from '@vmv/vhost-user';
import type { DescriptorChain } from '@vmv/device-trait';
import { UpperDevice } from '../devices';

class CrashingUpperDevice extends UpperDevice {
  override complete(index: number, chain: DescriptorChain): void {
    const text = new TextDecoder().decode(chain.reader().readBytes(chain.readableBytes));
    if (text === 'crash') {
      setTimeout(() => {
        throw new Error('the test asked this worker to crash');
      });
      return;
    }
    if (text === 'reset') {
      this.ctx?.needsReset(new Error('the test asked for a reset'));
      return;
    }
    super.complete(index, chain);
  }
}

runQueueWorker({
  createDevice: (data) => {
    const { queues, mode } = data as { queues: number; mode: 'sync' | 'async' };
    const device = new CrashingUpperDevice(queues);
    device.mode = mode;
    return device;
  },
});
