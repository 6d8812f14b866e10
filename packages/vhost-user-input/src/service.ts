/**
 * One served input device: the @vmv/input device of the flags, fed by the event sources asked
 * for, its status events written out, its counters logged at stop.
 * @module
 */
import { InputDevice } from '@vmv/input';
import type { DaemonLog, FlagValues, ServedDevice } from '@vmv/vhost-user/daemon';
import { descriptionOf } from './args.js';
import { EventsSocket, feedLines, statusLine } from './events.js';

/**
 * The device and its event sources, for the daemon kit.
 * @example `const s = await InputService.open(values, log); s.device.send(1, 30, 1);`
 */
export class InputService implements ServedDevice {
  /** The device served. */
  readonly device: InputDevice;
  private constructor(device: InputDevice, private readonly socket: EventsSocket | null, private readonly log: DaemonLog) {
    this.device = device;
  }

  /**
   * Builds the device and starts its event sources.
   * @param values - the parsed flags.
   * @param log - the daemon's log.
   * @returns the service.
   * @throws VhostUser.UsageError for bad flags; the listen error of `--events-socket`.
   * @example `await InputService.open(values, log)`
   */
  static async open(values: FlagValues, log: DaemonLog): Promise<InputService> {
    const device = new InputDevice({ description: descriptionOf(values), capacity: values['queue-capacity'] as number });
    if (values['events-stdin'] === true) {
      device.onStatus((e) => void process.stdout.write(statusLine(e)));
      feedLines(device, process.stdin, process.stdout);
    }
    const path = values['events-socket'] as string | undefined;
    const socket = path === undefined ? null : await EventsSocket.listen(path, device);
    if (socket) log.info(`events socket listening on ${socket.path}`);
    device.onStatus((e) => log.debug(`status event type ${e.type} code ${e.code} value ${e.value}`));
    log.info(`device: ${device.description.name} (${[...device.description.events.keys()].length} event types)`);
    return new InputService(device, socket, log);
  }

  /** Stops the event sources and logs the counters. @returns when done. @example `await s.close()` */
  async close(): Promise<void> {
    if (this.socket) await this.socket.close();
    this.log.info(`INPUT-STATS ${JSON.stringify(this.device.stats)}`);
  }
}
