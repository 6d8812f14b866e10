/**
 * The vmv-vhost-user-scsi program, declared for the daemon kit (`@vmv/vhost-user/daemon`): its
 * flags ({@link SCSI_FLAGS}), its device ({@link ScsiService}), its control commands
 * ({@link SCSI_CONTROL}: LUNs added, removed, resized and listed while the guest runs) and
 * SIGUSR1 (every LUN's image size re-read).
 * @module
 */
import { MAX_LUN, MAX_TARGET } from '@vmv/scsi';
import { ControlError, daemonHelp, packageVersion, type ControlCommand, type DaemonDefinition } from '@vmv/vhost-user/daemon';
import { PROGRAM, SCSI_FLAGS, scsiOptions } from './args.js';
import { ScsiService } from './service.js';

/** The one device (`maxSockets: 1`). */
const only = (devices: readonly ScsiService[]): ScsiService => devices[0]!;

/** An argument checked: absent (undefined when optional) or of the right type and range. */
function integer(args: Readonly<Record<string, unknown>>, name: string, max: number, fallback?: number): number {
  const v = args[name];
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new ControlError(`"${name}" must be an integer in 0..${max}, got ${JSON.stringify(v) ?? 'nothing'}`);
  return v;
}
function optional<T>(args: Readonly<Record<string, unknown>>, name: string, type: 'string' | 'boolean'): T | undefined {
  const v = args[name];
  if (v !== undefined && typeof v !== type) throw new ControlError(`"${name}" must be a ${type}, got ${JSON.stringify(v)}`);
  return v as T | undefined;
}
/** Refuses arguments a command does not take (a misspelt "read_only" must not pass silently). */
function acceptOnly(args: Readonly<Record<string, unknown>>, names: readonly string[]): void {
  for (const k of Object.keys(args)) if (!names.includes(k)) throw new ControlError(`unknown argument "${k}" (takes ${names.map((n) => `"${n}"`).join(', ')})`);
}

/**
 * The control commands (`--control-socket PATH`; one JSON request a line). Every one answers the
 * LUN(s) as `{"target", "lun", "image", "blocks", "readOnly", "direct"}`.
 * @example `echo '{"execute": "lun-add", "arguments": {"image": "c.img"}}' | socat - UNIX-CONNECT:scsi.ctl`
 */
export const SCSI_CONTROL: Readonly<Record<string, ControlCommand<ScsiService>>> = {
  'lun-list': { help: 'the LUNs served', run: (args, d) => (acceptOnly(args, []), only(d).luns()) },
  'lun-add': {
    help: 'opens a raw image as a new LUN (default: the lowest free LUN of target 0); the guest sees it without a reboot',
    arguments: '{"image": PATH, "lun"?: N, "target"?: N, "read-only"?: BOOL, "direct"?: BOOL}',
    run: (args, d) => {
      acceptOnly(args, ['image', 'lun', 'target', 'read-only', 'direct']);
      const image = optional<string>(args, 'image', 'string');
      if (image === undefined || image === '') throw new ControlError('"image" (the path of a raw image) is required');
      const target = integer(args, 'target', MAX_TARGET, 0);
      const lun = args['lun'] === undefined ? undefined : integer(args, 'lun', MAX_LUN);
      return only(d).addLun({ image, target, lun, readOnly: optional(args, 'read-only', 'boolean'), direct: optional(args, 'direct', 'boolean') });
    },
  },
  'lun-remove': {
    help: 'removes a LUN: the guest drops it; commands running on it finish, then its image is flushed and closed',
    arguments: '{"lun": N, "target"?: N}',
    run: (args, d) => (acceptOnly(args, ['lun', 'target']), only(d).removeLun(integer(args, 'target', MAX_TARGET, 0), integer(args, 'lun', MAX_LUN))),
  },
  'lun-resize': {
    help: "re-reads a LUN's image size after the file grew or shrank; the guest is told (capacity data has changed)",
    arguments: '{"lun": N, "target"?: N}',
    run: (args, d) => (acceptOnly(args, ['lun', 'target']), only(d).resizeLun(integer(args, 'target', MAX_TARGET, 0), integer(args, 'lun', MAX_LUN))),
  },
};

/**
 * The daemon's definition for `runDaemon` (the images as arguments go through `imageArguments` first: {@link runCli}).
 * @example `runCli(process.argv.slice(2)).then((code) => process.exit(code));`
 */
export const scsiDaemon: DaemonDefinition<ScsiService> = {
  program: PROGRAM,
  deviceType: 'scsi',
  description: `Serves raw disk images as the LUNs of a virtio-scsi target over vhost-user (image N is LUN N of
target 0), swappable with rust-vmm's vhost-device-scsi (same flags). Usage: ${PROGRAM} -s PATH [-r] IMAGE...
QEMU connects with:
  -chardev socket,id=c0,path=PATH -device vhost-user-scsi-pci,chardev=c0
  -object memory-backend-memfd,id=mem,size=<RAM>,share=on -machine memory-backend=mem
One frontend at a time; when it disconnects the images are flushed and the next one is served.`,
  version: packageVersion('@vmv/vhost-user-scsi', typeof __dirname === 'string' ? __dirname : undefined),
  flags: SCSI_FLAGS,
  // The images are opened once: two devices writing one image would corrupt it.
  maxSockets: 1,
  check: (values) => void scsiOptions(values),
  createDevice: (values, log) => ScsiService.open(scsiOptions(values), log),
  control: SCSI_CONTROL,
  signals: {
    SIGUSR1: (devices, log) => {
      for (const { target, lun } of only(devices).luns()) {
        only(devices).resizeLun(target, lun).catch((e: unknown) => log.error(`resize of LUN ${target}:${lun} failed: ${(e as Error).message}`));
      }
    },
  },
};

/** The `--help` text. @example `process.stdout.write(HELP + '\n')` */
export const HELP: string = daemonHelp(scsiDaemon);
