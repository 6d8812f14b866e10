/**
 * The devices vmv-vfio-user serves, one entry each in {@link DEVICE_KINDS}: the device's flags, their
 * check, how the device is opened and its control commands. virtio-console (VIRTIO 1.2 §5.3) and
 * virtio-gpio (§5.18) are their vhost-user daemons' own definitions for the daemon kit
 * (`consoleDaemon`, `createGpioDaemon()`): the same flags, checks, devices and commands, for one socket.
 * virtio-blk (§5.2) keeps vmv-vhost-user-blk's `BlockService` with the flags it had here; virtio-rng
 * (§5.4) has none.
 * @module
 */
import { RngDevice } from '@vmv/rng';
import type { VirtioDevice } from '@vmv/device-trait';
import { type ControlCommand, type DaemonDefinition, type DaemonLog, type FlagSpecs, type FlagValues, type ServedDevice } from '@vmv/vhost-user/daemon';
import { BlockService, checkSerial } from '@vmv/vhost-user-blk';
import { consoleDaemon } from '@vmv/vhost-user-console';
import { createGpioDaemon } from '@vmv/vhost-user-gpio';
import type { VfioUserConnectionEvent } from '@vmv/vfio-user/node';

/** The devices served. @example `DEVICES.includes('console')` */
export const DEVICES = ['blk', 'rng', 'console', 'gpio'] as const;
/** One of {@link DEVICES}. @example `const d: DeviceName = 'rng';` */
export type DeviceName = (typeof DEVICES)[number];

/** The device behind the function, and its hooks. */
export interface Served {
  readonly device: VirtioDevice;
  /** A vfio-user client came or went. */
  connection?(event: VfioUserConnectionEvent): void;
  /** At the stop, after the socket closed: finish the requests in flight, flush. */
  drain?(): Promise<void>;
  /** Last at the stop, or when the start fails. */
  close?(): Promise<void>;
}

/** One device: what the command line takes for it and how it is served. */
export interface DeviceKind {
  /** Its flags, with their defaults and `required` as its daemon declares them. */
  readonly flags: FlagSpecs;
  /** Checks its flags together (values with the defaults applied and `socket-path` the socket). */
  readonly check?: (values: FlagValues) => void;
  /** Opens it for the socket. */
  readonly open: (values: FlagValues, log: DaemonLog, socket: string) => Served | Promise<Served>;
  /** Its control commands (`--control-socket`), given the one device served. */
  readonly control?: Readonly<Record<string, ControlCommand<ServedDevice>>>;
}

/** A vhost-user daemon's definition as a device of vmv-vfio-user (its socket 0). */
function fromDaemon<D extends ServedDevice>(def: DaemonDefinition<D>): DeviceKind {
  return {
    flags: def.flags,
    ...(def.check === undefined ? {} : { check: def.check }),
    open: (values, log, socket) => def.createDevice(values, log, socket),
    ...(def.control === undefined ? {} : { control: def.control as unknown as Readonly<Record<string, ControlCommand<ServedDevice>>> }),
  };
}

/** Every device by name. @example `DEVICE_KINDS.console.flags['tcp-port']` */
export const DEVICE_KINDS: { readonly [D in DeviceName]: DeviceKind } = {
  blk: {
    flags: {
      image: { type: 'string', value: 'FILE', required: true, help: 'the raw disk image (a regular file or a block device)' },
      'read-only': { type: 'boolean', aliases: ['readonly'], help: 'serve the image read-only (VIRTIO_BLK_F_RO, opened O_RDONLY)' },
      queues: { type: 'integer', min: 1, max: 64, default: 1, value: 'N', help: 'request queues (each gets its own MSI-X vector)' },
      serial: { type: 'string', value: 'ID', help: 'the disk serial (printable ASCII, at most 20 bytes)' },
    },
    check: (values) => {
      if (values['serial'] !== undefined) checkSerial(values['serial'] as string);
    },
    open: async (values, log, socket) => {
      const svc = await BlockService.open(
        {
          socket,
          image: values['image'] as string,
          readonly: values['read-only'] === true,
          queues: values['queues'] as number,
          ...(values['serial'] === undefined ? {} : { serial: values['serial'] as string }),
          // Interrupts are eventfd writes and notifications REGION_WRITE messages: nothing to coalesce or poll.
          coalesce: false,
          poll: false,
        },
        log,
      );
      return {
        device: svc.device,
        // Counts clients, and flushes the image when one leaves.
        connection: (e) => {
          if (e.type === 'connected') svc.onEvent({ type: 'connected' });
          else if (e.type === 'disconnected') svc.onEvent({ type: 'disconnected' });
        },
        drain: () => svc.drain(),
        close: () => svc.close(),
      };
    },
  },
  rng: { flags: {}, open: () => ({ device: new RngDevice() }) },
  // The ports' host ends: the daemon's terminal, TCP, unix sockets or ptys.
  console: fromDaemon(consoleDaemon),
  // A simulated chip (`-l sN`), its lines driven and read through the control socket.
  gpio: fromDaemon(createGpioDaemon()),
};
