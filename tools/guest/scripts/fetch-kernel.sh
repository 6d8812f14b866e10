#!/usr/bin/env bash
# Fetches the distro kernel behind linux-image-amd64 (never installs it) and prepares it for booting:
# apt-get download -> dpkg -x -> depmod -b -> PVH ELF vmlinux extracted from the bzImage.
# Usage: fetch-kernel.sh OUTDIR
# Result (written to OUTDIR.tmp, then renamed, so OUTDIR is complete or absent):
#   OUTDIR/vmlinux   uncompressed ELF kernel with a PVH note: QEMU boots it directly (no real-mode setup)
#   OUTDIR/vmlinuz   the bzImage as shipped
#   OUTDIR/kpkg/     the unpacked package (lib/modules/KVER with modules.dep)
#   OUTDIR/KVER, OUTDIR/PKG   kernel version and package file name
# Env: VMV_GUEST_KERNEL_PKG overrides the package (default: what linux-image-amd64 depends on).
# Needs: apt-get (lists updated once), dpkg, kmod (depmod), xz-utils.
set -euo pipefail
OUT=${1:?usage: fetch-kernel.sh OUTDIR}
for c in apt-get apt-cache dpkg depmod xz; do
  command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || [ -x "/sbin/$c" ] || { echo "fetch-kernel: need $c (see install-host-deps.sh)" >&2; exit 1; }
done
export PATH=$PATH:/usr/sbin:/sbin
resolve() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
PKG=${VMV_GUEST_KERNEL_PKG:-$(resolve)}
if [ -z "$PKG" ] && [ "$(id -u)" = 0 ]; then
  apt-get -q -o DPkg::Lock::Timeout=300 update -qq >/dev/null 2>&1 || true
  PKG=$(resolve)
fi
[ -n "$PKG" ] || { echo "fetch-kernel: cannot resolve linux-image-amd64 to a versioned package: run apt-get update (root), or set VMV_GUEST_KERNEL_PKG" >&2; exit 1; }
TMP=$OUT.tmp.$$
rm -rf "$TMP"; mkdir -p "$TMP/dl"
trap 'rm -rf "$TMP"' EXIT
SANDBOX=(); [ "$(id -u)" = 0 ] && SANDBOX=(-o APT::Sandbox::User=root)   # root: _apt could not write to TMP
(cd "$TMP/dl" && apt-get -q "${SANDBOX[@]}" download "$PKG" >/dev/null) || { echo "fetch-kernel: apt-get download $PKG failed" >&2; exit 1; }
DEB=$(ls -1 "$TMP"/dl/*.deb | tail -1)
dpkg -x "$DEB" "$TMP/kpkg"
KVER=$(ls -1 "$TMP/kpkg/lib/modules" | head -1)
[ -n "$KVER" ] || { echo "fetch-kernel: $DEB has no lib/modules" >&2; exit 1; }
depmod -b "$TMP/kpkg" "$KVER"              # the .deb ships no modules.dep (its postinst would create it)
cp "$TMP/kpkg/boot/vmlinuz-$KVER" "$TMP/vmlinuz"
# The bzImage carries an xz stream (CONFIG_KERNEL_XZ): find its magic and decompress. xz exits non-zero
# because of the data after the stream, but the output is complete; check the ELF magic instead.
OFF=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$TMP/vmlinuz" | head -1 | cut -d: -f1)
[ -n "$OFF" ] || { echo "fetch-kernel: no xz stream in the bzImage" >&2; exit 1; }
tail -c +$((OFF + 1)) "$TMP/vmlinuz" | xz -dc 2>/dev/null > "$TMP/vmlinux" || true
[ "$(head -c 4 "$TMP/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ] || { echo "fetch-kernel: vmlinux extraction failed" >&2; exit 1; }
echo "$KVER" > "$TMP/KVER"; basename "$DEB" > "$TMP/PKG"
rm -rf "$TMP/dl" "$TMP/kpkg/usr/share/doc"
rm -rf "$OUT"; mv "$TMP" "$OUT"; trap - EXIT
echo "fetch-kernel: $(cat "$OUT/PKG") KVER=$KVER vmlinux=$OUT/vmlinux"
