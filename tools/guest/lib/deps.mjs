import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_DIR } from './util.mjs';

/**
 * Runs scripts/install-host-deps.sh: installs the missing host packages (root + apt-get), or says exactly
 * what is missing and how to get it.
 * @param {{fio?: boolean, check?: boolean, quiet?: boolean, platforms?: string[]}} [opts]  fio: also fio (the bookworm
 *   benchmark image); check: report only, never install; quiet: do not echo the script's output; platforms: the guest
 *   platforms to prepare for (default ['bookworm'])
 * @returns {{ok: boolean, output: string}}
 * @example if (!ensureHostDeps().ok) process.exit(1);
 */
export function ensureHostDeps(opts = {}) {
  const args = [join(PACKAGE_DIR, 'scripts', 'install-host-deps.sh')];
  if (!opts.fio) args.push('--no-fio');
  if (opts.check) args.push('--check');
  args.push('--platforms', (opts.platforms ?? ['bookworm']).join(','));
  const r = spawnSync('bash', args, { encoding: 'utf8' });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  if (!opts.quiet && output) console.error(output);
  return { ok: r.status === 0, output: output || String(r.error ?? '') };
}
