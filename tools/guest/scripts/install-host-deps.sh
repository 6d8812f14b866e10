#!/usr/bin/env bash
# Installs the host packages the real-guest tests need (Debian/Ubuntu, apt-get), idempotently.
# Usage: install-host-deps.sh [--no-fio] [--check] [--platforms bookworm,trixie]
#   --no-fio     do not require fio (it is only needed for the bookworm benchmark image: ~80 MB of libraries)
#   --check      only report what is missing (exit 1 if anything is), never install
#   --platforms  the guest platforms to prepare for (default bookworm): bookworm runs the host's QEMU and
#                qemu-storage-daemon; trixie builds its own root with debootstrap (its QEMU comes from there)
# Each package is skipped when what it provides is already present. When something is missing and this
# process cannot install it (not root, or no apt-get), prints exactly what is missing and how to get it,
# and exits 1. `apt-get update` runs at most once, and only when something must be installed.
set -uo pipefail
WANT_FIO=1; CHECK=0; PLATFORMS=bookworm
while [ $# -gt 0 ]; do case $1 in
  --no-fio) WANT_FIO=0;; --check) CHECK=1;;
  --platforms) PLATFORMS=$2; shift;;
  -h|--help) sed -n 2,12p "$0"; exit 0;;
  *) echo "install-host-deps: unknown option $1" >&2; exit 2;; esac; shift; done
BOOKWORM=0; TRIXIE=0
for p in ${PLATFORMS//,/ }; do case $p in bookworm) BOOKWORM=1;; trixie) TRIXIE=1;; all) BOOKWORM=1; TRIXIE=1;;
  *) echo "install-host-deps: unknown platform $p" >&2; exit 2;; esac; done

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
static_busybox() {
  local b; b=$(command -v busybox 2>/dev/null) || return 1
  # a static binary has no program interpreter; ldd says "not a dynamic executable"
  local out; out=$(LC_ALL=C ldd "$b" 2>&1)   # ldd exits 1 on a static binary: do not pipe it (pipefail)
  [[ $out == *"not a dynamic executable"* ]]
}
# package -> test that says it is present
missing=()
need() { local pkg=$1; shift; "$@" || missing+=("$pkg"); }
if [ "$BOOKWORM" = 1 ]; then
  need qemu-system-x86    have qemu-system-x86_64
  need qemu-system-common have qemu-storage-daemon
  need qemu-utils         have qemu-img
fi
[ "$TRIXIE" = 1 ] && need debootstrap have debootstrap
need busybox-static     static_busybox
need kmod               eval 'have depmod && have modprobe'
need cpio               have cpio
need zstd               have zstd
need xz-utils           have xz
need e2fsprogs          eval 'have mkfs.ext4 && have e2fsck && have debugfs'
[ "$WANT_FIO" = 1 ] && [ "$BOOKWORM" = 1 ] && need fio have fio

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-host-deps: all present"
  exit 0
fi
how="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$CHECK" = 1 ]; then
  echo "install-host-deps: missing packages: ${missing[*]}"
  echo "install-host-deps: install them with (as root): $how"
  exit 1
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-host-deps: missing packages: ${missing[*]}" >&2
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-host-deps: no apt-get on this host; install the equivalents of: ${missing[*]}" >&2
  else
    echo "install-host-deps: not root; run as root: $how" >&2
  fi
  echo "install-host-deps: (or set VMV_SKIP_GUEST=1 to skip the real-guest tests)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -q -y -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
echo "install-host-deps: installing ${missing[*]}"
"${APT[@]}" update -qq >/dev/null || { echo "install-host-deps: apt-get update failed" >&2; exit 1; }
if ! "${APT[@]}" install --no-install-recommends "${missing[@]}" >/tmp/vmv-apt-install.$$.log 2>&1; then
  tail -20 /tmp/vmv-apt-install.$$.log >&2; rm -f /tmp/vmv-apt-install.$$.log
  echo "install-host-deps: apt-get install failed for: ${missing[*]}" >&2
  exit 1
fi
rm -f /tmp/vmv-apt-install.$$.log
# check again: a package name that exists but does not provide the tool must not pass silently
missing_before=("${missing[@]}"); missing=()
if [ "$BOOKWORM" = 1 ]; then
  need qemu-system-x86    have qemu-system-x86_64
  need qemu-system-common have qemu-storage-daemon
fi
[ "$TRIXIE" = 1 ] && need debootstrap have debootstrap
need busybox-static     static_busybox
[ "$WANT_FIO" = 1 ] && [ "$BOOKWORM" = 1 ] && need fio have fio
if [ ${#missing[@]} -ne 0 ]; then echo "install-host-deps: still missing after install: ${missing[*]}" >&2; exit 1; fi
echo "install-host-deps: installed ${missing_before[*]}"
