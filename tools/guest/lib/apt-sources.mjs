// The Debian archive this machine's apt already uses, read from its sources (one-line and deb822 formats), so
// that no mirror's name is written into the repository: debootstrap of another suite uses the same archive.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Entries of apt sources: `deb URI SUITE COMPONENTS...` lines and deb822 stanzas, flattened to one entry per
 * (URI, suite).
 * @param {string} text  a sources file
 * @param {boolean} deb822  the file is in deb822 format (*.sources)
 * @returns {Array<{uri: string, suite: string, components: string[]}>}
 * @example parseSources('deb http://deb.example/debian bookworm main', false)[0].suite === 'bookworm'
 */
export function parseSources(text, deb822) {
  const out = [];
  if (!deb822) {
    for (const raw of text.split('\n')) {
      const line = raw.replace(/#.*/, '').trim();
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
      if (m) out.push({ uri: m[1], suite: m[2], components: m[3].split(/\s+/).filter(Boolean) });
    }
    return out;
  }
  for (const stanza of text.split(/\n\s*\n/)) {
    const f = {};
    for (const raw of stanza.split('\n')) {
      if (raw.startsWith('#')) continue;
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(raw);
      if (m) f[m[1].toLowerCase()] = m[2].trim();
    }
    if (f.enabled === 'no' || !(f.types ?? '').split(/\s+/).includes('deb')) continue;
    for (const uri of (f.uris ?? '').split(/\s+/).filter(Boolean)) {
      for (const suite of (f.suites ?? '').split(/\s+/).filter(Boolean)) {
        out.push({ uri, suite, components: (f.components ?? '').split(/\s+/).filter(Boolean) });
      }
    }
  }
  return out;
}

/**
 * The URI of the Debian archive in this machine's apt sources: an entry whose suite is a release (no
 * `-security`, `-updates` or `-backports` suffix) with the `main` component. VMV_DEBIAN_MIRROR overrides it.
 * @param {string} [dir='/etc/apt']
 * @returns {string}
 * @throws {Error} when no such entry exists (the message says what to set)
 * @example debianMirror() // e.g. the URI in /etc/apt/sources.list.d/debian.sources
 */
export function debianMirror(dir = '/etc/apt') {
  if (process.env.VMV_DEBIAN_MIRROR) return process.env.VMV_DEBIAN_MIRROR;
  const files = [];
  if (existsSync(join(dir, 'sources.list'))) files.push([join(dir, 'sources.list'), false]);
  const d = join(dir, 'sources.list.d');
  if (existsSync(d)) {
    for (const name of readdirSync(d).sort()) {
      if (name.endsWith('.list')) files.push([join(d, name), false]);
      else if (name.endsWith('.sources')) files.push([join(d, name), true]);
    }
  }
  for (const [file, deb822] of files) {
    for (const e of parseSources(readFileSync(file, 'utf8'), deb822)) {
      if (/-(security|updates|backports)$|\//.test(e.suite) || !e.components.includes('main')) continue;
      return e.uri.replace(/\/+$/, '');
    }
  }
  throw new Error(`no Debian archive (a release suite with "main") in ${dir}/sources.list*: set VMV_DEBIAN_MIRROR to the archive's URI`);
}
