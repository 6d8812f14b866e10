/**
 * The vmv-vhost-user-vsock program, declared for the daemon kit (`@vmv/vhost-user/daemon`): its
 * flags ({@link VSOCK_FLAGS}), its sockets (one per guest) and a {@link VsockService} per guest.
 * @module
 */
import { daemonHelp, packageVersion, type DaemonDefinition } from '@vmv/vhost-user/daemon';
import { PROGRAM, VSOCK_FLAGS, vsockOptions, type VsockOptions } from './args.js';
import { VsockGroups, VsockService } from './service.js';

/** The options are read once per run: `--config` is a file. */
const parsed = new WeakMap<object, VsockOptions>();
const optionsOf = (values: object): VsockOptions => {
  let o = parsed.get(values);
  if (o === undefined) parsed.set(values, (o = vsockOptions(values as Record<string, unknown>)));
  return o;
};
/** The guests of each run, by its flag values. */
const groupsOf = new WeakMap<object, VsockGroups>();

/**
 * The daemon's definition for `runDaemon`.
 * @example `runDaemon(vsockDaemon).then((code) => process.exit(code));`
 */
export const vsockDaemon: DaemonDefinition<VsockService> = {
  program: PROGRAM,
  deviceType: 'vsock',
  description: `Serves virtio-vsock devices (stream and seqpacket sockets) over vhost-user, swappable with rust-vmm's
vhost-device-vsock (same flags). Host programs connect to the hybrid unix socket (--uds-path) and write
"CONNECT <port>\\n" (answered "OK <host port>\\n"); a guest connecting to host port P reaches the program
listening on <uds-path>_P. Guests sharing a group reach each other by CID. QEMU connects with:
  -chardev socket,id=c0,path=SOCKET -device vhost-user-vsock-pci,chardev=c0
  -object memory-backend-memfd,id=mem,size=<RAM>,share=on -machine memory-backend=mem`,
  version: packageVersion('@vmv/vhost-user-vsock', typeof __dirname === 'string' ? __dirname : undefined),
  flags: VSOCK_FLAGS,
  socketPathAliases: ['socket'],
  maxSockets: 1, // one guest per socket; more guests with --vm
  check: (values) => void optionsOf(values),
  sockets: (values) => {
    const o = optionsOf(values);
    return values['socket-path'] === undefined ? o.vms.map((vm) => vm.socket) : undefined;
  },
  createDevice: (values, log, socket) => {
    const o = optionsOf(values);
    const vm = o.vms.find((v) => v.socket === socket) ?? o.vms[0]!;
    let groups = groupsOf.get(values);
    if (groups === undefined) groupsOf.set(values, (groups = new VsockGroups()));
    return VsockService.open(vm, o, groups, log);
  },
};

/** The `--help` text. @example `process.stdout.write(HELP + '\n')` */
export const HELP: string = daemonHelp(vsockDaemon);
