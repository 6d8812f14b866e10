/**
 * The vmv-vhost-user-can program, declared for the daemon kit (`@vmv/vhost-user/daemon`): one
 * virtio-can controller (@vmv/can, VIRTIO 1.4 §5.20) per socket, on CAN buses inside the daemon.
 * The flags of rust-vmm's vhost-device-can: `-d/--can-devices "NAME ..."`, one name per socket,
 * where a name is a virtual bus here (sockets naming the same bus share it; no host SocketCAN
 * interface is opened); `-s`, `-c` from the kit. Ours: `--frame-socket [BUS=]PATH`, where host
 * programs join a bus (see `FrameSocket`), and control commands (`status`, `bus-off`).
 * @module
 */
import { CanBus, CanDevice } from '@vmv/can';
import type { CanBusStats, CanControllerState, CanStats } from '@vmv/can';
import { ControlError, UsageError, daemonHelp, packageVersion } from '@vmv/vhost-user/daemon';
import type { ControlCommand, DaemonDefinition, FlagSpecs, FlagValues, ServedDevice } from '@vmv/vhost-user/daemon';
import { FrameSocket } from './frame-socket.js';

/** The program's name. @example `PROGRAM === 'vmv-vhost-user-can'` */
export const PROGRAM = 'vmv-vhost-user-can';

/** The bus every socket is on when `--can-devices` is not given. @example `DEFAULT_BUS === 'can0'` */
export const DEFAULT_BUS = 'can0';

const NAME = /^[A-Za-z0-9_.:-]{1,15}$/;

/**
 * `--can-devices` in vhost-device-can's syntax: names separated by spaces (or commas), one per
 * socket in socket order; here each names a virtual bus (an interface name's characters, up to 15).
 * @param text - the flag's value.
 * @returns the names, in order.
 * @throws VhostUser.UsageError for an empty list or a bad name.
 * @example `parseCanDevices('can0 can0 can1') // ['can0', 'can0', 'can1']`
 */
export function parseCanDevices(text: string): string[] {
  const names = text.split(/[\s,]+/).filter((n) => n !== '');
  if (names.length === 0) throw new UsageError('--can-devices names no bus');
  for (const n of names) if (!NAME.test(n)) throw new UsageError(`--can-devices: ${JSON.stringify(n)} is not a bus name (letters, digits, _.:- and at most 15 of them)`);
  return names;
}

/** `--frame-socket [BUS=]PATH`. */
function parseFrameSocket(text: string): { bus: string | null; path: string } {
  const m = /^([A-Za-z0-9_.:-]{1,15})=(.+)$/.exec(text);
  if (m !== null && !m[2]!.includes('=')) return { bus: m[1]!, path: m[2]! };
  if (text === '') throw new UsageError('--frame-socket needs a path');
  return { bus: null, path: text };
}

/** The daemon's own flags (the kit adds `-s`, `-c` and the rest). @example `Object.keys(CAN_FLAGS)` */
export const CAN_FLAGS: FlagSpecs = {
  'can-devices': {
    short: 'd',
    type: 'string',
    value: '"NAME [NAME...]"',
    validate: parseCanDevices,
    help: `vhost-device-can's list, one name per socket in order; a name is a virtual CAN bus inside the daemon (sockets with the same name share it), not a host interface. Default: every socket on ${DEFAULT_BUS}`,
  },
  'frame-socket': {
    type: 'string',
    repeatable: true,
    value: '[BUS=]PATH',
    validate: parseFrameSocket,
    help: 'ours: a unix socket on BUS (default: the first bus) whose every connection is a node of the bus, frames as lines of can-utils text both ways (123#DEADBEEF, 123#R4, 12345678##0...)',
  },
};

/**
 * What serves one socket: its controller and its bus.
 * @example `served.device.state`
 */
export interface CanService extends ServedDevice {
  /** The controller served on this socket. */
  readonly device: CanDevice;
  /** The bus it is on. */
  readonly bus: CanBus;
  /** The bus's name. */
  readonly busName: string;
  /** The socket path. */
  readonly socket: string;
}

function acceptOnly(args: Readonly<Record<string, unknown>>, names: readonly string[]): void {
  for (const k of Object.keys(args)) if (!names.includes(k)) throw new ControlError(`unknown argument "${k}" (takes ${names.map((n) => `"${n}"`).join(', ') || 'none'})`);
}

/**
 * The control commands (`--control-socket PATH`; one JSON request a line).
 * @example `echo '{"execute": "bus-off", "arguments": {"socket": 0}}' | socat - UNIX-CONNECT:can.ctl`
 */
export const CAN_CONTROL: Readonly<Record<string, ControlCommand<CanService>>> = {
  status: {
    help: "every bus's counters, and every socket's bus, controller state (stopped, started, bus-off) and counters",
    run: (args, d): { buses: (CanBusStats & { name: string })[]; sockets: { socket: number; path: string; bus: string; state: CanControllerState; stats: CanStats }[] } => {
      acceptOnly(args, []);
      const buses = new Map<string, CanBus>();
      for (const s of d) buses.set(s.busName, s.bus);
      return {
        buses: [...buses].map(([name, bus]) => ({ name, ...bus.stats })),
        sockets: d.map((s, i) => ({ socket: i, path: s.socket, bus: s.busName, state: s.device.state, stats: s.device.stats })),
      };
    },
  },
  'bus-off': {
    help: "a bus-off condition on a socket's controller: it stops, VIRTIO_CAN_S_CTRL_BUSOFF is set, the guest is notified; false when it was not started",
    arguments: '{"socket": N}',
    run: (args, d) => {
      acceptOnly(args, ['socket']);
      const n = args['socket'];
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n >= d.length) throw new ControlError(`"socket" must be a socket number, 0..${d.length - 1}, got ${JSON.stringify(n) ?? 'nothing'}`);
      return { busOff: d[n]!.device.busOff() };
    },
  },
};

/**
 * A fresh definition of the daemon for `runDaemon` (each run builds its own buses).
 * @returns the definition.
 * @example `runDaemon(createCanDaemon()).then((code) => process.exit(code));`
 */
export function createCanDaemon(): DaemonDefinition<CanService> {
  let shared: { buses: Map<string, CanBus>; names: readonly string[]; frames: FrameSocket[]; next: number; users: number } | null = null;
  const names = (values: FlagValues): readonly string[] => (values['can-devices'] as string[] | undefined) ?? new Array<string>((values['socket-count'] as number | undefined) ?? 1).fill(DEFAULT_BUS);
  return {
    program: PROGRAM,
    deviceType: 'can',
    description: `Serves virtio-can controllers over vhost-user, on virtual CAN buses inside the daemon (@vmv/can: classic,
CAN FD, RTR, extended ids; lossless, in order, back-pressure on senders), with the flags of rust-vmm's
vhost-device-can. -s PATH listens on PATH0 (-c N: PATH0..PATH(N-1)). QEMU (11.1 or later) connects with:
  -chardev socket,id=c0,path=PATH0
  -device vhost-user-test-device-pci,chardev=c0,virtio-id=36,num_vqs=3,config_size=2
  -object memory-backend-memfd,id=mem,size=<RAM>,share=on -machine memory-backend=mem
Host programs join a bus on --frame-socket (frames as lines: 123#DEADBEEF); --control-socket has status and bus-off.`,
    version: packageVersion('@vmv/vhost-user-can', typeof __dirname === 'string' ? __dirname : undefined),
    flags: CAN_FLAGS,
    socketSuffix: 'always',
    check(values) {
      const given = values['can-devices'] as string[] | undefined;
      const count = (values['socket-count'] as number | undefined) ?? 1;
      if (given !== undefined && given.length !== count) throw new UsageError(`--can-devices names ${given.length} bus${given.length === 1 ? '' : 'es'} for ${count} socket${count === 1 ? '' : 's'}: one name per socket, as vhost-device-can`);
      const buses = new Set(names(values));
      const paths = new Set<string>();
      for (const f of values['frame-socket'] as { bus: string | null; path: string }[]) {
        if (f.bus !== null && !buses.has(f.bus)) throw new UsageError(`--frame-socket ${f.bus}=${f.path}: no bus ${f.bus} in --can-devices (${[...buses].join(', ')})`);
        if (paths.has(f.path)) throw new UsageError(`--frame-socket ${f.path} is given twice`);
        paths.add(f.path);
      }
    },
    createDevice: async (values, log, socket) => {
      if (shared === null) {
        const list = names(values);
        const buses = new Map<string, CanBus>();
        for (const n of list) if (!buses.has(n)) buses.set(n, new CanBus());
        const s = { buses, names: list, frames: [] as FrameSocket[], next: 0, users: 0 };
        shared = s;
        try {
          for (const f of values['frame-socket'] as { bus: string | null; path: string }[]) s.frames.push(await FrameSocket.listen(f.path, buses.get(f.bus ?? list[0]!)!, log));
        } catch (e) {
          for (const fs of s.frames) await fs.close();
          throw e;
        }
      }
      const s = shared;
      const busName = s.names[s.next++]!;
      const bus = s.buses.get(busName)!;
      s.users++;
      const device = new CanDevice({ bus });
      device.onChange((c) => log.info(`controller ${c.state} (${c.cause})`, { socket }));
      return {
        device,
        bus,
        busName,
        socket,
        drain: () => {
          const st = device.stats;
          log.info(`sent ${st.txFrames} frames (${st.txRejected} rejected, ${st.txCancelled} cancelled), received ${st.rxFrames} (${st.rxDropped} dropped)`, { socket });
          return Promise.resolve();
        },
        close: async () => {
          if (--s.users === 0) for (const f of s.frames) await f.close();
        },
      };
    },
    control: CAN_CONTROL,
  };
}

/** The `--help` text. @example `process.stdout.write(HELP + '\n')` */
export const HELP: string = daemonHelp(createCanDaemon());
