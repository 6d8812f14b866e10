/**
 * The command line of vmv-vhost-user-scsi: rust-vmm vhost-device-scsi's flags, same meanings
 * (`-s, --socket-path`, `-r, --read-only`, `--solid-state`, the images as arguments, one LUN of
 * target 0 each, in order). Ours: `--image` (the same as an argument), `--read-only-lun`,
 * `--direct`, `--num-queues` and `--queue-size`.
 * @module
 */
import { UsageError, parseInteger, type FlagSpecs, type FlagValues } from '@vmv/vhost-user/daemon';
import { MAX_LUN } from '@vmv/scsi';

/** The program name used in messages. @example `console.error(`${PROGRAM}: error: ...`)` */
export const PROGRAM = 'vmv-vhost-user-scsi';

/** Request queues by default: QEMU asks for one per vCPU unless `num_queues` is set. @example `new ScsiDevice({ numQueues: DEFAULT_NUM_QUEUES })` */
export const DEFAULT_NUM_QUEUES = 8;

/**
 * Largest ring size by default: what QEMU's `virtqueue_size` goes up to (its default is 128). QEMU's
 * vhost-user-scsi keeps seg_max at 126 whatever the ring size (it has no seg_max_adjust).
 * @example `new ScsiDevice({ queueSize: DEFAULT_QUEUE_SIZE })`
 */
export const DEFAULT_QUEUE_SIZE = 1024;

/**
 * The daemon's own flags (the kit adds `-s, --socket-path`, `--fd`, `-v`, `-q`, `--log-format`,
 * `--print-capabilities`, `-h`, `-V`).
 * @example `Object.keys(SCSI_FLAGS).includes('read-only') // true`
 */
export const SCSI_FLAGS: FlagSpecs = {
  'read-only': { type: 'boolean', short: 'r', help: 'serve every image read-only (opened O_RDONLY; writes get DATA PROTECT, WRITE PROTECTED)' },
  'solid-state': { type: 'boolean', help: 'tell the guest the disks do not rotate (VPD page B1h, medium rotation rate 1)' },
  image: { type: 'string', repeatable: true, value: 'PATH', help: 'a raw image, the next LUN of target 0 (the same as giving PATH as an argument)' },
  'read-only-lun': {
    type: 'string', repeatable: true, value: 'N', help: 'serve LUN N (image N, from 0) read-only; repeat for more',
    validate: (text) => parseInteger('--read-only-lun', text, 0, MAX_LUN),
  },
  direct: { type: 'boolean', help: 'open the images with O_DIRECT (no host page cache) where the filesystem allows it' },
  'num-queues': { type: 'integer', min: 1, max: 254, default: DEFAULT_NUM_QUEUES, value: 'N', help: `request queues offered, at least what QEMU's num_queues asks (default ${DEFAULT_NUM_QUEUES})` },
  'queue-size': { type: 'integer', min: 2, max: 32768, default: DEFAULT_QUEUE_SIZE, value: 'N', help: `largest ring size, at least QEMU's virtqueue_size (default ${DEFAULT_QUEUE_SIZE})` },
};

/**
 * Everything the daemon needs, as {@link scsiOptions} returns it.
 * @example `scsiOptions(values).images // ['a.img', 'b.img']`
 */
export interface ScsiOptions {
  /** The images, LUN 0 upwards. */
  readonly images: readonly string[];
  /** Every image read-only. */
  readonly readOnly: boolean;
  /** The LUNs served read-only (every one with {@link ScsiOptions.readOnly}). */
  readonly readOnlyLuns: ReadonlySet<number>;
  /** Report the disks as non-rotating. */
  readonly solidState: boolean;
  /** O_DIRECT. */
  readonly direct: boolean;
  /** Request queues. */
  readonly numQueues: number;
  /** Largest ring size. */
  readonly queueSize: number;
}

/**
 * The arguments with every image given as an argument (vhost-device-scsi's positional
 * `IMAGES`) turned into `--image=PATH`, so the kit's flag parser sees flags only. An argument is
 * an image when it does not start with `-` and is not the value of the flag before it; after
 * `--` every argument is an image.
 * @param specs - every flag of the daemon (`daemonFlags(scsiDaemon)`), to know which take a value.
 * @param argv - the arguments.
 * @returns the arguments for `parseFlags`.
 * @example `imageArguments(specs, ['-r', '-s', 'x.sock', 'a.img']) // ['-r', '-s', 'x.sock', '--image=a.img']`
 */
export function imageArguments(specs: FlagSpecs, argv: readonly string[]): string[] {
  const takesValue = new Set<string>();
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.type === 'boolean') continue;
    takesValue.add(`--${name}`);
    for (const a of spec.aliases ?? []) takesValue.add(`--${a}`);
    if (spec.short !== undefined) takesValue.add(`-${spec.short}`);
  }
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      for (const image of argv.slice(i + 1)) out.push(`--image=${image}`);
      break;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      out.push(arg);
      if (takesValue.has(arg) && i + 1 < argv.length) out.push(argv[++i]!);
    } else {
      out.push(`--image=${arg}`);
    }
  }
  return out;
}

/**
 * The options from the parsed flags.
 * @param values - what `parseFlags` returned.
 * @returns the options.
 * @throws VhostUser.UsageError without an image, with more than 16384, with one image twice, or a `--read-only-lun` past the last image.
 * @example `scsiOptions(parseFlags(daemonFlags(scsiDaemon), imageArguments(specs, ['-s', 's', 'a.img'])))`
 */
export function scsiOptions(values: FlagValues): ScsiOptions {
  const images = values['image'] as string[];
  if (images.length === 0) {
    throw new UsageError('no image given', { details: `Give one or more raw images as arguments, one LUN each: ${PROGRAM} -s PATH disk0.img disk1.img` });
  }
  if (images.length > MAX_LUN + 1) throw new UsageError(`${images.length} images: at most ${MAX_LUN + 1} LUNs in a target`);
  const seen = new Set<string>();
  for (const image of images) {
    if (seen.has(image)) throw new UsageError(`image ${image} given twice (two LUNs writing one image would corrupt it)`);
    seen.add(image);
  }
  const readOnlyLuns = new Set(values['read-only-lun'] as number[]);
  for (const lun of readOnlyLuns) if (lun >= images.length) throw new UsageError(`--read-only-lun ${lun}: there are ${images.length} images (LUNs 0..${images.length - 1})`);
  return {
    images,
    readOnlyLuns,
    readOnly: values['read-only'] === true,
    solidState: values['solid-state'] === true,
    direct: values['direct'] === true,
    numQueues: values['num-queues'] as number,
    queueSize: values['queue-size'] as number,
  };
}
