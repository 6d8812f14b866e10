#!/usr/bin/env node
// `pnpm --filter @vmv-tools/guest run test:guest`: the real-guest test matrix.
// Backends from env VMV_GUEST_BACKEND=qsd|vmv|both|builtin (default: vmv when its dist/cjs/bin.js exists,
// else qsd). Writes tools/guest/.guest-results.json, prints a line per test, exits 1 on any failure.
// Options: --only <substring> (run the cases whose name contains it), --verbose (echo guest consoles).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  PACKAGE_DIR, defaultMatrix, detectAccel, ensureGuestImage, ensureHostDeps, qsdAvailable, runGuestCase, selectedBackends,
  selfCheckLostWrites, vmvAvailable, VMV_DAEMON_BIN,
} from '../lib/guest.mjs';

const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : null;
const verbose = args.includes('--verbose') || process.env.VMV_GUEST_VERBOSE === '1';
const resultsFile = join(PACKAGE_DIR, '.guest-results.json');
const tests = [];
const record = (name, ok, seconds, details) => {
  tests.push({ name, status: ok ? 'passed' : 'failed', seconds: Number(seconds.toFixed(2)), details });
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name.padEnd(28)} ${seconds.toFixed(1).padStart(5)} s  ${ok ? details : ''}`);
  if (!ok) console.log(details.replace(/^/gm, '     '));
};
const finish = () => {
  const numFailedTests = tests.filter((t) => t.status === 'failed').length;
  writeFileSync(resultsFile, `${JSON.stringify({ numPassedTests: tests.length - numFailedTests, numFailedTests, tests }, null, 2)}\n`);
  console.log(`guest tests: ${tests.length - numFailedTests} passed, ${numFailedTests} failed (${resultsFile})`);
  process.exit(numFailedTests === 0 ? 0 : 1);
};

const t0 = performance.now();
const deps = ensureHostDeps({ quiet: true });
if (!deps.ok) {
  record('host-deps', false, (performance.now() - t0) / 1000, `${deps.output}\n(set VMV_SKIP_GUEST=1 to skip the real-guest tests)`);
  finish();
}
let guestImage;
const ti = performance.now();
try {
  guestImage = await ensureGuestImage({ log: (l) => console.log(l) });
} catch (err) {
  record('guest-image', false, (performance.now() - ti) / 1000, err.message);
  finish();
}
let sel;
try {
  sel = selectedBackends();
} catch (err) {
  record('backend-selection', false, 0, err.message);
  finish();
}
const { accel, reason } = detectAccel();
console.log(`guest: kernel ${guestImage.kver} (${guestImage.kernelPackage}), accel ${accel} (${reason}), backends ${sel.names.join(', ')}`
  + `${guestImage.built.length ? `, built ${guestImage.built.join(' + ')} in ${guestImage.seconds.toFixed(1)} s` : ''}`);
if (sel.note) console.log(`guest: ${sel.note}`);
for (const backend of sel.names) {
  if (backend === 'vmv' && !vmvAvailable()) {
    record('vmv/daemon-built', false, 0, `VMV_GUEST_BACKEND asks for our daemon but ${VMV_DAEMON_BIN} does not exist (build packages/vhost-user-blk, or set VMV_GUEST_VMV_CMD)`);
    continue;
  }
  for (const c of defaultMatrix()) {
    const name = `${backend}/${c.machine}/${c.kind}${c.queues > 1 ? `-q${c.queues}` : ''}`;
    if (only && !name.includes(only)) continue;
    const r = await runGuestCase(c.kind, {
      ...c, backend, guestImage,
      onConsoleLine: verbose ? (l, s) => console.log(`  [${s.toFixed(2).padStart(6)}] ${l}`) : undefined,
    });
    record(r.name, r.ok, r.seconds, r.details);
  }
}
// the harness must be able to fail: a backend whose writes never reach the checked file must be caught
if (qsdAvailable() && (!only || 'harness/detects-lost-writes'.includes(only))) {
  const r = await selfCheckLostWrites({ guestImage });
  record(r.name, r.ok, r.seconds, r.details);
}
finish();
