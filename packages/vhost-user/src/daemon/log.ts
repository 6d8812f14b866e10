/**
 * The daemon's log: lines on standard error, as text (`program: level: msg k=v`) or as JSON
 * lines (`{"time","level","program","msg","fields"}`), at or above a level.
 * @module
 */

/** Log levels, most severe first. @example `LOG_LEVELS.indexOf('debug') > LOG_LEVELS.indexOf('info')` */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
/** One of {@link LOG_LEVELS}. @example `const l: LogLevel = 'warn';` */
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Where a daemon logs: one method per level, a message and optional structured fields.
 * @example
 * ```ts
 * log.info('frontend connected', { socket: '/run/rng.sock0' });
 * ```
 */
export type DaemonLog = { readonly [L in LogLevel]: (msg: string, fields?: Readonly<Record<string, unknown>>) => void };

/**
 * A logger writing lines at or above `level`.
 * @param program - the program name in every line.
 * @param level - the most verbose level written.
 * @param format - `text` or `json`.
 * @param write - where lines go.
 * @param now - the clock (tests).
 * @returns the logger.
 * @example
 * ```ts
 * const log = createLogger('vmv-vhost-user-rng', 'info', 'json', (t) => process.stderr.write(t));
 * ```
 */
export function createLogger(program: string, level: LogLevel, format: 'text' | 'json', write: (text: string) => void, now: () => Date = () => new Date()): DaemonLog {
  const max = LOG_LEVELS.indexOf(level);
  const line = (lvl: LogLevel) => (msg: string, fields?: Readonly<Record<string, unknown>>) => {
    if (LOG_LEVELS.indexOf(lvl) > max) return;
    if (format === 'json') {
      write(`${JSON.stringify({ time: now().toISOString(), level: lvl, program, msg, ...(fields === undefined ? {} : { fields }) })}\n`);
      return;
    }
    const kv = fields === undefined ? '' : Object.entries(fields).map(([k, v]) => ` ${k}=${typeof v === 'string' ? JSON.stringify(v) : String(v)}`).join('');
    write(`${program}: ${lvl}: ${msg}${kv}\n`);
  };
  return { error: line('error'), warn: line('warn'), info: line('info'), debug: line('debug') };
}
