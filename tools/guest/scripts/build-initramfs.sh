#!/usr/bin/env bash
# Builds a test initramfs: static busybox + kernel modules (dependencies resolved on the host, load order kept)
# + the guest's /init and test scripts + extra host binaries with their shared-library closure.
# Usage: build-initramfs.sh -k KROOT -g GUESTDIR -o OUT [-m "mod ..."] [-x BIN]... [-z gzip|zstd|none]
#   -k KROOT   unpacked kernel package (see fetch-kernel.sh), containing lib/modules/KVER with modules.dep
#   -g DIR     guest files: DIR/init.sh becomes /init, DIR/tests/*.sh go to /tests
#   -o OUT     output archive; written to OUT.tmp.PID and renamed, so OUT is complete or absent
#   -m MODS    modules to load at boot, in this order (each preceded by its dependencies; default below)
#   -x BIN     host binary to add, with every library ldd lists and the loader (repeatable; same path in guest)
#   -z COMP    gzip (default) | zstd (use for large images: fio drags in ~80 MB of libraries) | none
# Needs: busybox-static, kmod (modprobe), cpio, gzip or zstd.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin
KROOT= ; GUEST= ; OUT= ; COMP=gzip ; EXTRA=()
MODS="virtio_mmio virtio_pci virtio_blk virtio_rng virtio_console crc32c_generic ext4"
while getopts "k:g:o:m:x:z:" o; do case $o in
  k) KROOT=$OPTARG;; g) GUEST=$OPTARG;; o) OUT=$OPTARG;; m) MODS=$OPTARG;; x) EXTRA+=("$OPTARG");; z) COMP=$OPTARG;;
  *) sed -n 2,11p "$0" >&2; exit 2;; esac; done
[ -n "$KROOT" ] && [ -n "$GUEST" ] && [ -n "$OUT" ] || { sed -n 2,11p "$0" >&2; exit 2; }
KROOT=$(cd "$KROOT" && pwd)
KVER=$(ls -1 "$KROOT/lib/modules" | head -1)
MODDIR=$KROOT/lib/modules/$KVER
[ -f "$MODDIR/modules.dep" ] || depmod -b "$KROOT" "$KVER"
BB=$(command -v busybox) || { echo "build-initramfs: no busybox (apt-get install busybox-static)" >&2; exit 1; }
bbout=$(LC_ALL=C ldd "$BB" 2>&1 || true)
[[ $bbout == *"not a dynamic executable"* ]] || { echo "build-initramfs: $BB is not static (apt-get install busybox-static)" >&2; exit 1; }

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/vmv-initramfs.XXXXXX")
trap 'rm -rf "$STAGE" "$OUT.tmp.$$"' EXIT
mkdir -p "$STAGE"/{bin,sbin,etc,proc,sys,dev,tmp,run,mnt,tests,lib/modules,usr/bin,usr/sbin}
cp "$BB" "$STAGE/bin/busybox"
for a in $("$BB" --list); do [ "$a" = busybox ] || ln -s busybox "$STAGE/bin/$a"; done
install -m 0755 "$GUEST/init.sh" "$STAGE/init"
cp "$GUEST"/tests/*.sh "$STAGE/tests/"

# Modules: `modprobe --show-depends` prints the insmod chain in load order; keep the first occurrence.
: > "$STAGE/etc/modules.list"
for m in $MODS; do
  chain=$(modprobe -d "$KROOT" -S "$KVER" --show-depends "$m") || { echo "build-initramfs: no module $m in $KVER" >&2; exit 1; }
  while read -r verb path _; do
    [ "$verb" = insmod ] || continue          # "builtin X" needs nothing
    rel=${path#"$MODDIR"/}
    grep -qxF "$rel" "$STAGE/etc/modules.list" || echo "$rel" >> "$STAGE/etc/modules.list"
  done <<< "$chain"
done
while read -r rel; do
  mkdir -p "$STAGE/lib/modules/$(dirname "$rel")"; cp "$MODDIR/$rel" "$STAGE/lib/modules/$rel"
done < "$STAGE/etc/modules.list"

add_bin() {  # a dynamic binary and its ldd closure (including the loader), at the same paths as on the host
  local b=$1 f libs
  [ -x "$b" ] || { echo "build-initramfs: no executable $b" >&2; exit 1; }
  mkdir -p "$STAGE$(dirname "$b")"; cp -L "$b" "$STAGE$b"
  libs=$(LC_ALL=C ldd "$b" 2>/dev/null | awk '{for(i=1;i<=NF;i++) if ($i ~ /^\//) print $i}' || true)
  for f in $libs; do
    mkdir -p "$STAGE$(dirname "$f")"; [ -e "$STAGE$f" ] || cp -L "$f" "$STAGE$f"
  done
}
for b in ${EXTRA[@]+"${EXTRA[@]}"}; do add_bin "$b"; done
[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$STAGE/etc/"
echo "$KVER" > "$STAGE/etc/kver"

mkdir -p "$(dirname "$OUT")"
case $COMP in
  gzip) (cd "$STAGE" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | gzip -6) > "$OUT.tmp.$$";;
  zstd) (cd "$STAGE" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | zstd -q -3 -T0) > "$OUT.tmp.$$";;
  none) (cd "$STAGE" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) > "$OUT.tmp.$$";;
  *) echo "build-initramfs: bad -z $COMP" >&2; exit 2;;
esac
mv "$OUT.tmp.$$" "$OUT"
echo "build-initramfs: $OUT ($(du -h "$OUT" | cut -f1), $COMP) kver=$KVER modules: $(wc -l < "$STAGE/etc/modules.list")$([ ${#EXTRA[@]} -gt 0 ] && echo " binaries: ${EXTRA[*]}")"
