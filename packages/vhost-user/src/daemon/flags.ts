/**
 * Flag specs and the parser and `--help` text generated from them. A daemon declares its flags
 * as data ({@link FlagSpec}); values may follow the flag (`--queues 2`) or be joined to it
 * (`--queues=2`); a short alias (`-s P`) takes the next argument. Every problem is one
 * {@link UsageError} line naming the flag and what it accepts.
 * @module
 */
import { UsageError } from './errors.js';

/**
 * One flag: its name (without `--`), an optional one-letter alias, its value type, default,
 * one-line help and optional validation. `boolean` flags take no value.
 * @example
 * ```ts
 * const queues: FlagSpec<number> = { type: 'integer', min: 1, max: 256, default: 1, value: 'N', help: 'request queues' };
 * ```
 */
export type FlagSpec<T = unknown> = {
  /** One-letter alias (`s` for `-s`). */
  readonly short?: string;
  /** One line for `--help`. */
  readonly help: string;
  /** Other long names accepted for this flag (`socket` for `socket-path`). */
  readonly aliases?: readonly string[];
  /** Value placeholder in `--help` (default `VALUE`). */
  readonly value?: string;
  /** When set, the flag must be given. */
  readonly required?: boolean;
  /** A boolean that answers and exits (`--help`): when given, required flags may be missing. */
  readonly standalone?: boolean;
} & (
  | {
      /** A switch: present or absent, no value. */
      readonly type: 'boolean';
      /** Switches have no default: absent is false. */
      readonly default?: never;
      /** Switches have nothing to validate. */
      readonly validate?: never;
    }
  | {
      /** A text value. */
      readonly type: 'string';
      /** May be given more than once: the value is the array of every one validated, in order (`[]` when absent). */
      readonly repeatable?: boolean;
      /** The value when the flag is not given. */
      readonly default?: T;
      /** Turns the text into the value; throws (a message for the usage error) to refuse it. */
      readonly validate?: (text: string) => T;
    }
  | {
      /** A decimal integer value. */
      readonly type: 'integer';
      /** Smallest value accepted. */
      readonly min: number;
      /** Largest value accepted. */
      readonly max: number;
      /** The value when the flag is not given. */
      readonly default?: number;
      /** Turns the checked integer into the value; throws to refuse it. */
      readonly validate?: (n: number) => T;
    }
);

/** A set of flags by long name. @example `const flags: FlagSpecs = { image: { type: 'string', required: true, help: 'disk image' } };` */
export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/**
 * The parsed values: booleans as `true`/`false`, others as validated (or the default, or
 * `undefined` when neither was given).
 * @example
 * ```ts
 * const v: FlagValues = parseFlags(specs, ['--queues=2']); v['queues']; // 2
 * ```
 */
export type FlagValues = Readonly<Record<string, unknown>>;

/**
 * A whole number in `min..max` from a flag's text (decimal digits only).
 * @param label - how messages name it (`--queues`, `--poll SPIN_US`).
 * @param text - the text given.
 * @param min - smallest accepted.
 * @param max - largest accepted.
 * @returns the number.
 * @throws VhostUser.UsageError when it is not a whole number in range.
 * @example
 * ```ts
 * parseInteger('--queues', '2', 1, 256); // 2
 * ```
 */
export function parseInteger(label: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${label} must be a whole number, got ${JSON.stringify(text)}`);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${label} must be in ${min}..${max}, got ${text}`);
  return n;
}

/**
 * Parses `argv` against `specs`.
 * @param specs - the flags.
 * @param argv - the arguments (`process.argv.slice(2)`).
 * @param program - the program name for the "run --help" hint.
 * @returns every flag's value, by long name.
 * @throws VhostUser.UsageError for an unknown flag, a missing or invalid value, a flag repeated that is not `repeatable`,
 *   a value given to a boolean flag, a missing required flag, or a stray argument.
 * @example
 * ```ts
 * parseFlags({ n: { type: 'integer', min: 1, max: 9, default: 1, help: 'n' } }, ['--n=3']); // { n: 3 }
 * ```
 */
export function parseFlags(specs: FlagSpecs, argv: readonly string[], program = 'the program'): FlagValues {
  if (!Array.isArray(argv)) throw new TypeError('parseFlags: argv must be an array of strings');
  const byName = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) {
    byName.set(`--${name}`, name);
    for (const a of spec.aliases ?? []) byName.set(`--${a}`, name);
    if (spec.short !== undefined) byName.set(`-${spec.short}`, name);
  }
  const hint = { details: `Run ${program} --help for the options.` };
  const texts = new Map<string, string | true>();
  const repeated = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (typeof arg !== 'string') throw new TypeError('parseFlags: argv must be an array of strings');
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const given = eq > 0 ? arg.slice(0, eq) : arg;
    const name = byName.get(given);
    if (name === undefined) {
      if (arg.startsWith('-')) throw new UsageError(`unknown option ${JSON.stringify(given)}`, hint);
      throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`, hint);
    }
    const spec = specs[name]!;
    const repeatable = spec.type === 'string' && spec.repeatable === true;
    if (texts.has(name) && !repeatable) throw new UsageError(`--${name} given twice`);
    if (spec.type === 'boolean') {
      if (eq > 0) throw new UsageError(`--${name} takes no value`);
      texts.set(name, true);
      continue;
    }
    let value: string;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('-') && next.length > 1 && !/^-\d/.test(next))) {
        throw new UsageError(`--${name} needs a value`, { details: `Give it as --${name} ${spec.value ?? 'VALUE'} or --${name}=${spec.value ?? 'VALUE'}.` });
      }
      value = next;
      i++;
    }
    texts.set(name, value);
    if (repeatable) repeated.set(name, [...(repeated.get(name) ?? []), value]);
  }
  const out: Record<string, unknown> = {};
  const standalone = Object.entries(specs).some(([name, spec]) => spec.standalone === true && texts.has(name));
  for (const [name, spec] of Object.entries(specs)) {
    const text = texts.get(name);
    if (spec.type === 'string' && spec.repeatable === true) {
      out[name] = (repeated.get(name) ?? []).map((t) => {
        if (t === '') throw new UsageError(`--${name} must not be empty`);
        return spec.validate === undefined ? t : spec.validate(t);
      });
      continue;
    }
    if (spec.type === 'boolean') {
      out[name] = text === true;
      continue;
    }
    if (text === undefined) {
      if (spec.required === true && !standalone) throw new UsageError(`--${name} ${spec.value ?? 'VALUE'} is required`, hint);
      out[name] = spec.default;
      continue;
    }
    const s = text as string;
    if (spec.type === 'integer') {
      const n = parseInteger(`--${name}`, s, spec.min, spec.max);
      out[name] = spec.validate === undefined ? n : spec.validate(n);
    } else {
      if (s === '') throw new UsageError(`--${name} must not be empty`);
      out[name] = spec.validate === undefined ? s : spec.validate(s);
    }
  }
  return out;
}

/**
 * The `--help` text: a usage line, the description, then every flag on one line.
 * @param program - the program name.
 * @param description - what the daemon serves (may span lines).
 * @param specs - the flags.
 * @returns the text (no trailing newline).
 * @example
 * ```ts
 * process.stdout.write(formatHelp('vmv-vhost-user-rng', 'virtio-rng', specs) + '\n');
 * ```
 */
export function formatHelp(program: string, description: string, specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const head = `${spec.short === undefined ? '    ' : `-${spec.short}, `}--${name}${spec.type === 'boolean' ? '' : ` ${spec.value ?? 'VALUE'}`}`;
    const extra = [
      ...(spec.aliases ?? []).map((a) => `alias --${a}`),
      ...(spec.type === 'integer' ? [`${spec.min}..${spec.max}`] : []),
      ...(spec.type !== 'boolean' && spec.default !== undefined ? [`default ${String(spec.default)}`] : []),
      ...(spec.required === true ? ['required'] : []),
      ...(spec.type === 'string' && spec.repeatable === true ? ['repeatable'] : []),
    ];
    return [head, `${spec.help}${extra.length === 0 ? '' : ` (${extra.join('; ')})`}`] as const;
  });
  const width = Math.max(...rows.map(([h]) => h.length)) + 2;
  const required = Object.entries(specs)
    .filter(([, s]) => s.required === true)
    .map(([n, s]) => `--${n} ${s.value ?? 'VALUE'}`);
  return [`Usage: ${program} ${[...required, '[options]'].join(' ')}`, '', description, '', 'Options:', ...rows.map(([h, t]) => `  ${h.padEnd(width)}${t}`)].join('\n');
}
