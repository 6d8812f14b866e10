#!/usr/bin/env bash
# Puts the programs of Debian packages into a platform root, for copying into guest initramfs images.
# Usage: root-packages.sh ROOT PKG...
# Each PKG's shared-library dependencies (the lib* packages it depends on) are installed with apt; the package
# itself is only unpacked (dpkg -x), so tools whose package pulls in daemons or interpreters they do not need at
# run time (i2c-tools -> udev, perl) stay small. A package done once is recorded in ROOT/var/lib/vmv-packages
# and skipped after. apt-get update runs only when a package is not in the root's lists.
# Needs: root, chroot.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/root-lib.sh"
ROOT=${1:?usage: root-packages.sh ROOT PKG...}; shift
[ "$(id -u)" = 0 ] || fail "adding packages to $ROOT needs root (chroot)"
export PATH=$PATH:/usr/sbin:/sbin
DONE=$ROOT/var/lib/vmv-packages
mkdir -p "$DONE"
todo=()
for p in "$@"; do [ -f "$DONE/$p" ] || todo+=("$p"); done
[ ${#todo[@]} -gt 0 ] || exit 0
LOG=$ROOT/var/tmp/vmv-packages.log
: > "$LOG"
known() { chroot "$ROOT" apt-cache show --no-all-versions "$1" >/dev/null 2>&1; }
for p in "${todo[@]}"; do
  if ! known "$p"; then apt_in "$ROOT" update >>"$LOG" 2>&1 || true; fi
  known "$p" || fail "no package $p in the root's archive ($(grep -h '^deb ' "$ROOT"/etc/apt/sources.list "$ROOT"/etc/apt/sources.list.d/*.list 2>/dev/null | tr '\n' ' '))"
done
libs=$(for p in "${todo[@]}"; do
  chroot "$ROOT" apt-cache show --no-all-versions "$p" | awk -F': ' '/^(Pre-)?Depends:/{print $2}' | tr ',' '\n' | sed 's/|.*//; s/(.*//; s/:any//; s/ //g'
done | { grep '^lib' || true; } | sort -u | tr '\n' ' ')
step "${todo[*]}: installing ${libs:-no libraries}, unpacking the packages"
if [ -n "$libs" ]; then
  # shellcheck disable=SC2086
  apt_in "$ROOT" install --no-install-recommends $libs >>"$LOG" 2>&1 \
    || fail "apt-get install $libs in $ROOT failed: $(tail -n 3 "$LOG" | tr '\n' ' ')"
fi
WORK=/var/tmp/vmv-packages.$$
trap 'rm -rf "$ROOT$WORK"' EXIT
mkdir -p "$ROOT$WORK"
chroot "$ROOT" sh -c "cd $WORK && apt-get -q -o APT::Sandbox::User=root download ${todo[*]}" >>"$LOG" 2>&1 \
  || fail "apt-get download ${todo[*]} in $ROOT failed: $(tail -n 3 "$LOG" | tr '\n' ' ')"
for p in "${todo[@]}"; do
  dpkg -x "$(ls "$ROOT$WORK/${p}"_*.deb | head -1)" "$ROOT"
  dpkg-deb -f "$(ls "$ROOT$WORK/${p}"_*.deb | head -1)" Version > "$DONE/$p"
done
apt_in "$ROOT" clean >/dev/null 2>&1 || true
