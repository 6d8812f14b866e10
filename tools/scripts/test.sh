#!/usr/bin/env bash
# The README's test command: installs what it needs, then runs every test (lint, type checks of
# sources and tests, unit/property tests, packaging tests, and the real-guest tests when present).
# Ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/scripts/bootstrap.sh
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
status=0
# Result files of an earlier run must not count for this one (turbo restores them on a cache hit).
find packages tools -maxdepth 2 \( -name .jest-results.json -o -name .guest-results.json \) -delete
# Two tasks at a time on a 2-core machine: timing-sensitive tests (sockets, child processes)
# stay well inside their bounds, and the run takes about as long as with more concurrency.
pnpm turbo run build lint typecheck test --continue --concurrency=2 --output-logs=errors-only || status=1
if [ -d tools/guest ] && [ "${VMV_SKIP_GUEST:-0}" != 1 ]; then
  pnpm --filter @vmv-tools/guest run test:guest || status=1
fi
node tools/scripts/summarize.mjs || status=1
exit $status
