#!/usr/bin/env bash
# Makes sure Debian packages are present for a test that needs a host program.
# Usage: ensure-apt.sh PACKAGE=PROGRAM [PACKAGE=PROGRAM ...]
#   PROGRAM is a command name or an absolute path whose presence shows the package is installed.
# Installs what is missing with apt-get when running as root (apt-get update at most once, and only
# when something must be installed); otherwise prints the exact apt-get line and exits 1.
set -uo pipefail
missing=()
for spec in "$@"; do
  pkg=${spec%%=*}; prog=${spec#*=}
  if [[ $prog == /* ]]; then [ -e "$prog" ] && continue
  else command -v "$prog" >/dev/null 2>&1 && continue; fi
  missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing host packages: ${missing[*]} (install with: apt-get install -y ${missing[*]})" >&2
  exit 1
fi
echo "ensure-apt: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Tests run two at a time and more than one may install: wait for dpkg's lock instead of failing.
apt=(apt-get -o DPkg::Lock::Timeout=600)
if ! "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >/tmp/ensure-apt.$$.log 2>&1; then
  "${apt[@]}" update >/dev/null 2>&1
  "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >/tmp/ensure-apt.$$.log 2>&1 \
    || { cat /tmp/ensure-apt.$$.log >&2; rm -f /tmp/ensure-apt.$$.log; exit 1; }
fi
rm -f /tmp/ensure-apt.$$.log
