#!/usr/bin/env bash
# Builds a test initramfs: static busybox + kernel modules (dependencies resolved on the host, load order kept)
# + the guest's /init and test scripts + programs with their shared-library closure.
# Usage: build-initramfs.sh -k KROOT -o OUT [-g GUESTDIR] [-m "mod ..."] [-x PROG]... [-D PATH]... [-R ROOT] [-E NAME] [-z gzip|zstd|none]
#   -k KROOT   unpacked kernel packages (see fetch-kernel.sh), containing lib/modules/KVER with modules.dep
#   -g DIR     guest files: DIR/init.sh becomes /init, DIR/tests/*.sh go to /tests (not with -E)
#   -o OUT     output archive; written to OUT.tmp.PID and renamed, so OUT is complete or absent
#   -m MODS    modules to load at boot, in this order (each preceded by its dependencies; default below).
#              Compressed modules (.ko.xz, .ko.zst) are stored decompressed: busybox's insmod takes plain ELF.
#   -x PROG    a program to add, with every library it links and the loader (repeatable; same path in the guest)
#   -D PATH    a data file or directory a program reads (alsa-lib's /usr/share/alsa), same path in the guest
#   -R ROOT    programs, data (and /etc/mke2fs.conf) come from the root ROOT instead of the host: PROG names a path
#              inside ROOT, and its libraries are resolved by ROOT's own loader
#   -E NAME    an extra archive to append to a base one (the kernel unpacks concatenated archives in order):
#              only the modules and programs, its module list in /etc/modules.d/NAME.list
#   -z COMP    gzip (default) | zstd (use for large images: fio drags in ~80 MB of libraries) | none
# Needs: busybox-static, kmod (modprobe), cpio, gzip or zstd, xz-utils.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin
KROOT= ; GUEST= ; OUT= ; COMP=gzip ; EXTRA=() ; DATA=() ; ROOT= ; PART=
MODS="virtio_mmio virtio_pci virtio_blk virtio_rng virtio_console crc32c_generic ext4"
while getopts "k:g:o:m:x:z:R:E:D:" o; do case $o in
  k) KROOT=$OPTARG;; g) GUEST=$OPTARG;; o) OUT=$OPTARG;; m) MODS=$OPTARG;; x) EXTRA+=("$OPTARG");; D) DATA+=("$OPTARG");; z) COMP=$OPTARG;;
  R) ROOT=$OPTARG;; E) PART=$OPTARG;;
  *) sed -n 2,20p "$0" >&2; exit 2;; esac; done
[ -n "$KROOT" ] && [ -n "$OUT" ] && { [ -n "$GUEST" ] || [ -n "$PART" ]; } || { sed -n 2,20p "$0" >&2; exit 2; }
KROOT=$(cd "$KROOT" && pwd)
KVER=$(ls -1 "$KROOT/lib/modules" | head -1)
MODDIR=$KROOT/lib/modules/$KVER
[ -f "$MODDIR/modules.dep" ] || depmod -b "$KROOT" "$KVER"

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/vmv-initramfs.XXXXXX")
trap 'rm -rf "$STAGE" "$OUT.tmp.$$"' EXIT
if [ -z "$PART" ]; then
  BB=$(command -v busybox) || { echo "build-initramfs: no busybox (apt-get install busybox-static)" >&2; exit 1; }
  bbout=$(LC_ALL=C ldd "$BB" 2>&1 || true)
  [[ $bbout == *"not a dynamic executable"* ]] || { echo "build-initramfs: $BB is not static (apt-get install busybox-static)" >&2; exit 1; }
  mkdir -p "$STAGE"/{bin,sbin,etc/modules.d,proc,sys,dev,tmp,run,mnt,tests,lib/modules,usr/bin,usr/sbin}
  cp "$BB" "$STAGE/bin/busybox"
  for a in $("$BB" --list); do [ "$a" = busybox ] || ln -s busybox "$STAGE/bin/$a"; done
  install -m 0755 "$GUEST/init.sh" "$STAGE/init"
  cp "$GUEST"/tests/*.sh "$STAGE/tests/"
  LIST=$STAGE/etc/modules.list
else
  mkdir -p "$STAGE/etc/modules.d"
  LIST=$STAGE/etc/modules.d/$PART.list
fi

# Modules: `modprobe --show-depends` prints the insmod chain in load order; keep the first occurrence.
: > "$LIST"
for m in $MODS; do
  chain=$(modprobe -d "$KROOT" -S "$KVER" --show-depends "$m") || { echo "build-initramfs: no module $m in $KVER" >&2; exit 1; }
  while read -r verb path _; do
    [ "$verb" = insmod ] || continue          # "builtin X" needs nothing
    rel=${path#"$MODDIR"/}
    rel=${rel%.xz}; rel=${rel%.zst}
    grep -qxF "$rel" "$LIST" || echo "$rel" >> "$LIST"
  done <<< "$chain"
done
while read -r rel; do
  [ -n "$rel" ] || continue
  mkdir -p "$STAGE/lib/modules/$(dirname "$rel")"
  if [ -f "$MODDIR/$rel" ]; then cp "$MODDIR/$rel" "$STAGE/lib/modules/$rel"
  elif [ -f "$MODDIR/$rel.xz" ]; then xz -dc "$MODDIR/$rel.xz" > "$STAGE/lib/modules/$rel"
  elif [ -f "$MODDIR/$rel.zst" ]; then zstd -q -dc "$MODDIR/$rel.zst" > "$STAGE/lib/modules/$rel"
  else echo "build-initramfs: $rel missing under $MODDIR" >&2; exit 1; fi
done < "$LIST"

# Programs: the binary and the libraries its loader resolves (including the loader), at the same paths.
libs_of() {  # PROG (guest path) -> library paths (guest paths)
  if [ -n "$ROOT" ]; then
    LC_ALL=C chroot "$ROOT" /lib64/ld-linux-x86-64.so.2 --list "$1" 2>/dev/null
  else
    LC_ALL=C ldd "$1" 2>/dev/null
  fi | awk '{for(i=1;i<=NF;i++) if ($i ~ /^\//) print $i}' || true
}
add_bin() {
  local b=$1 f src
  src=$ROOT$b
  [ -x "$src" ] || { echo "build-initramfs: no executable $src" >&2; exit 1; }
  mkdir -p "$STAGE$(dirname "$b")"; cp -L "$src" "$STAGE$b"
  for f in $(libs_of "$b"); do
    mkdir -p "$STAGE$(dirname "$f")"; [ -e "$STAGE$f" ] || cp -L "$ROOT$f" "$STAGE$f"
  done
}
for b in ${EXTRA[@]+"${EXTRA[@]}"}; do add_bin "$b"; done
for d in ${DATA[@]+"${DATA[@]}"}; do
  [ -e "$ROOT$d" ] || { echo "build-initramfs: no data $ROOT$d" >&2; exit 1; }
  mkdir -p "$STAGE$(dirname "$d")"; cp -rL "$ROOT$d" "$STAGE$d"
done
if [ -z "$PART" ]; then
  [ -f "$ROOT/etc/mke2fs.conf" ] && cp "$ROOT/etc/mke2fs.conf" "$STAGE/etc/"
  echo "$KVER" > "$STAGE/etc/kver"
fi

mkdir -p "$(dirname "$OUT")"
case $COMP in
  gzip) (cd "$STAGE" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | gzip -6) > "$OUT.tmp.$$";;
  zstd) (cd "$STAGE" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | zstd -q -3 -T0) > "$OUT.tmp.$$";;
  none) (cd "$STAGE" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) > "$OUT.tmp.$$";;
  *) echo "build-initramfs: bad -z $COMP" >&2; exit 2;;
esac
mv "$OUT.tmp.$$" "$OUT"
echo "build-initramfs: $OUT ($(du -h "$OUT" | cut -f1), $COMP) kver=$KVER modules: $(grep -c . "$LIST" || true)$([ ${#EXTRA[@]} -gt 0 ] && echo " programs: ${EXTRA[*]}")$([ ${#DATA[@]} -gt 0 ] && echo " data: ${DATA[*]}")" >&2
