#!/usr/bin/env bash
# The README's main command: installs what it needs, then runs the demo (tools/demo).
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/scripts/bootstrap.sh
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
pnpm exec turbo run build --filter=@vmv-tools/demo... --output-logs=errors-only || exit 1
exec pnpm --silent --filter @vmv-tools/demo run demo "$@"
