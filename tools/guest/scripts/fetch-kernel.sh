#!/usr/bin/env bash
# Fetches a Debian distro kernel (never installs it) and prepares it for booting:
# apt-get download -> dpkg -x -> depmod -b -> PVH ELF vmlinux extracted from the bzImage.
# Usage: fetch-kernel.sh OUTDIR [-r ROOT] [-s SUITE]
#   (no -r)   the host's apt: the package behind linux-image-amd64 (Debian 12: one package holds it all)
#   -r ROOT   apt inside the platform root ROOT (chroot); -s SUITE picks linux-image-amd64/SUITE there.
#             Newer kernels split linux-image-KVER into linux-binary-KVER (vmlinuz under /usr/lib/modules),
#             linux-modules-KVER and linux-base-KVER: every one of those it depends on is fetched too.
# Result (written to OUTDIR.tmp.PID, then renamed, so OUTDIR is complete or absent):
#   OUTDIR/vmlinux   uncompressed ELF kernel with a PVH note: QEMU boots it directly (no real-mode setup)
#   OUTDIR/kpkg/     the unpacked packages, modules under kpkg/lib/modules/KVER (with modules.dep)
#   OUTDIR/KVER, OUTDIR/PKG, OUTDIR/VERSION   kernel release, image package file, package version
# Env: VMV_GUEST_KERNEL_PKG names the host's linux-image-* package instead of what linux-image-amd64 depends on.
# Needs: apt-get, dpkg, kmod (depmod), xz-utils or zstd (the bzImage's compression).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/root-lib.sh"
OUT=${1:?usage: fetch-kernel.sh OUTDIR [-r ROOT] [-s SUITE]}; shift
ROOT= ; SUITE=
while getopts "r:s:" o; do case $o in r) ROOT=$OPTARG;; s) SUITE=$OPTARG;; *) sed -n 2,14p "$0" >&2; exit 2;; esac; done
export PATH=$PATH:/usr/sbin:/sbin
for c in dpkg depmod; do command -v "$c" >/dev/null 2>&1 || fail "need $c (see install-host-deps.sh)"; done
if [ -n "$ROOT" ]; then
  run_apt_cache() { chroot "$ROOT" apt-cache "$@"; }
else
  run_apt_cache() { apt-cache "$@"; }
fi
# depends_of PKG: the first alternative of each dependency, without versions
depends_of() { run_apt_cache show --no-all-versions "$1" 2>/dev/null | awk -F': ' '/^Depends:/{print $2; exit}' | tr ',' '\n' | sed 's/|.*//; s/(.*//; s/ //g'; }
meta=linux-image-amd64${SUITE:+/$SUITE}
IMG=
if [ -z "$ROOT" ]; then IMG=${VMV_GUEST_KERNEL_PKG:-}; fi
[ -n "$IMG" ] || IMG=$(depends_of "$meta" | grep -m1 '^linux-image-[0-9]' || true)
if [ -z "$IMG" ] && [ -z "$ROOT" ] && [ "$(id -u)" = 0 ]; then
  apt-get -q -o DPkg::Lock::Timeout=300 update -qq >/dev/null 2>&1 || true
  IMG=$(depends_of "$meta" | grep -m1 '^linux-image-[0-9]' || true)
fi
[ -n "$IMG" ] || fail "cannot resolve $meta to a versioned package: run apt-get update (root), or set VMV_GUEST_KERNEL_PKG"
VERSION=$(run_apt_cache show --no-all-versions "$IMG" 2>/dev/null | awk '/^Version:/{print $2; exit}')
PKGS=("$IMG")
for d in $(depends_of "$IMG"); do case $d in linux-binary-*|linux-modules-*|linux-base-[0-9]*) PKGS+=("$d");; esac; done

TMP=$OUT.tmp.$$
rm -rf "$TMP"; mkdir -p "$TMP/dl"
trap 'rm -rf "$TMP"; [ -n "$ROOT" ] && rm -rf "$ROOT/var/tmp/vmv-kernel.$$"' EXIT
if [ -n "$ROOT" ]; then
  mkdir -p "$ROOT/var/tmp/vmv-kernel.$$"
  chroot "$ROOT" sh -c "cd /var/tmp/vmv-kernel.$$ && apt-get -q -o APT::Sandbox::User=root download ${PKGS[*]}" >/dev/null 2>&1 \
    || fail "apt-get download ${PKGS[*]} in $ROOT failed"
  mv "$ROOT/var/tmp/vmv-kernel.$$"/*.deb "$TMP/dl/"
else
  SANDBOX=(); [ "$(id -u)" = 0 ] && SANDBOX=(-o APT::Sandbox::User=root)   # root: _apt could not write to TMP
  (cd "$TMP/dl" && apt-get -q "${SANDBOX[@]}" download "${PKGS[@]}" >/dev/null 2>&1) || fail "apt-get download ${PKGS[*]} failed"
fi
for deb in "$TMP"/dl/*.deb; do dpkg -x "$deb" "$TMP/kpkg"; done
if [ -d "$TMP/kpkg/usr/lib/modules" ]; then           # merged-/usr layout: move it where depmod -b looks
  mkdir -p "$TMP/kpkg/lib/modules"
  mv "$TMP/kpkg/usr/lib/modules/"* "$TMP/kpkg/lib/modules/"
fi
KVER=$(ls -1 "$TMP/kpkg/lib/modules" | head -1)
[ -n "$KVER" ] || fail "${PKGS[*]} hold no lib/modules"
depmod -b "$TMP/kpkg" "$KVER"              # the packages ship no modules.dep (their postinst would create it)
BZ=$TMP/kpkg/boot/vmlinuz-$KVER; [ -f "$BZ" ] || BZ=$TMP/kpkg/lib/modules/$KVER/vmlinuz
[ -f "$BZ" ] || fail "no vmlinuz in ${PKGS[*]}"
# The bzImage carries a compressed ELF (CONFIG_KERNEL_XZ or _ZSTD): find the stream's magic and decompress it.
# The decompressor exits non-zero because of the data after the stream, but the output is complete; check
# the ELF magic instead.
extract() {  # MAGIC TOOL...
  local off; off=$(LC_ALL=C grep -obUaP "$1" "$BZ" | head -1 | cut -d: -f1)
  [ -n "$off" ] || return 1
  tail -c +$((off + 1)) "$BZ" | "${@:2}" 2>/dev/null > "$TMP/vmlinux" || true
  [ "$(head -c 4 "$TMP/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ]
}
extract '\xfd7zXZ\x00' xz -dc || extract '\x28\xb5\x2f\xfd' zstd -dc \
  || fail "no xz or zstd stream holding the ELF kernel in $(basename "$BZ") (need xz-utils and zstd)"
cp "$BZ" "$TMP/vmlinuz"
echo "$KVER" > "$TMP/KVER"; basename "$(ls "$TMP"/dl/"$IMG"_*.deb)" > "$TMP/PKG"; echo "$VERSION" > "$TMP/VERSION"
rm -rf "$TMP/dl" "$TMP/kpkg/usr/share/doc"
rm -rf "$OUT"; mv "$TMP" "$OUT"; trap - EXIT
echo "fetch-kernel: $(cat "$OUT/PKG") KVER=$KVER vmlinux=$OUT/vmlinux" >&2
