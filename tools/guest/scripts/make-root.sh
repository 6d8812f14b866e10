#!/usr/bin/env bash
# Builds a Debian root for a guest platform: debootstrap (minbase) of SUITE from MIRROR, the SUITE-backports
# source, then PACKAGES from backports (QEMU and friends). Never touches the host's own packages.
# Usage: make-root.sh ROOT MIRROR SUITE "PACKAGES"
#   ROOT      the root to create; built in ROOT.tmp.PID and renamed, so ROOT is complete or absent
#   MIRROR    the Debian archive (the caller reads it from the host's apt sources)
#   PACKAGES  installed with `apt-get install -t SUITE-backports --no-install-recommends`
# Needs: root, debootstrap, chroot. Mounts nothing itself; debootstrap mounts /proc and /sys inside the new root
# while it runs, and whatever is still mounted under it is unmounted before anything is removed.
set -euo pipefail
ROOT=${1:?usage: make-root.sh ROOT MIRROR SUITE PACKAGES} MIRROR=${2:?mirror} SUITE=${3:?suite} PACKAGES=${4:-}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/root-lib.sh"
[ "$(id -u)" = 0 ] || fail "building the $SUITE root needs root (debootstrap, chroot)"
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || fail "debootstrap is not installed (apt-get install debootstrap)"
export PATH=$PATH:/usr/sbin:/sbin
TMP=$ROOT.tmp.$$
LOG=$(dirname "$ROOT")/make-root.log
cleanup() { remove_root "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
remove_root "$TMP"
mkdir -p "$(dirname "$ROOT")"
: > "$LOG"
step "debootstrap --variant=minbase $SUITE"
debootstrap --variant=minbase "$SUITE" "$TMP" "$MIRROR" >>"$LOG" 2>&1 \
  || fail "debootstrap of $SUITE from $MIRROR failed (needs Debian's archive reachable): $(tail -n 3 "$LOG" | tr '\n' ' ')"
echo "deb $MIRROR $SUITE-backports main" > "$TMP/etc/apt/sources.list.d/backports.list"
apt_in "$TMP" update >>"$LOG" 2>&1 || fail "apt-get update in the $SUITE root failed: $(tail -n 3 "$LOG" | tr '\n' ' ')"
if [ -n "$PACKAGES" ]; then
  step "apt-get install -t $SUITE-backports $PACKAGES"
  # shellcheck disable=SC2086
  apt_in "$TMP" install -t "$SUITE-backports" --no-install-recommends $PACKAGES >>"$LOG" 2>&1 \
    || fail "installing $PACKAGES in the $SUITE root failed: $(tail -n 3 "$LOG" | tr '\n' ' ')"
fi
apt_in "$TMP" clean >>"$LOG" 2>&1 || true
unmount_under "$TMP"
mv "$TMP" "$ROOT"
trap - EXIT
step "done: $ROOT ($(du -sh "$ROOT" | cut -f1))"
