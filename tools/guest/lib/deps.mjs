import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_DIR } from './image.mjs';

/**
 * Runs scripts/install-host-deps.sh: installs the missing host packages (root + apt-get), or says exactly
 * what is missing and how to get it.
 * @param {{fio?: boolean, check?: boolean, quiet?: boolean}} [opts]  fio: also fio (benchmark image);
 *   check: report only, never install; quiet: do not echo the script's output
 * @returns {{ok: boolean, output: string}}
 * @example if (!ensureHostDeps().ok) process.exit(1);
 */
export function ensureHostDeps(opts = {}) {
  const args = [join(PACKAGE_DIR, 'scripts', 'install-host-deps.sh')];
  if (!opts.fio) args.push('--no-fio');
  if (opts.check) args.push('--check');
  const r = spawnSync('bash', args, { encoding: 'utf8' });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  if (!opts.quiet && output) console.error(output);
  return { ok: r.status === 0, output: output || String(r.error ?? '') };
}
