#!/usr/bin/env bash
# Builds guest kernel modules that Debian's kernel config leaves out, out of tree, from the matching
# linux-source, with the kernel's own headers and compiler, inside the platform root.
# Usage: build-modules.sh -r ROOT -k KDIR -o OUTDIR MODULE...
#   ROOT     the platform root (apt, gcc and make run there with chroot; /proc is mounted for objtool meanwhile)
#   KDIR     a kernel fetched by fetch-kernel.sh (KVER and VERSION name the headers and the source to use)
#   OUTDIR   gets MODULE.ko for each MODULE (written to OUTDIR.tmp.PID, then renamed)
#   MODULE   one of: gpio-virtio i2c-virtio spi-virtio virtio_can (from linux-source), or the path of a module's
#            own .c file (tools/guest/modules: test modules of ours, no linux-source needed)
# Each module's vermagic is checked against a module Debian built for that kernel.
# Needs: root, chroot; kmod (modinfo) on the host.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/root-lib.sh"
ROOT= ; KDIR= ; OUT=
while getopts "r:k:o:" o; do case $o in r) ROOT=$OPTARG;; k) KDIR=$OPTARG;; o) OUT=$OPTARG;; *) sed -n 2,10p "$0" >&2; exit 2;; esac; done
shift $((OPTIND - 1))
[ -n "$ROOT" ] && [ -n "$KDIR" ] && [ -n "$OUT" ] && [ $# -gt 0 ] || { sed -n 2,10p "$0" >&2; exit 2; }
[ "$(id -u)" = 0 ] || fail "building guest modules needs root (chroot into $ROOT)"
export PATH=$PATH:/usr/sbin:/sbin
KVER=$(cat "$KDIR/KVER"); VERSION=$(cat "$KDIR/VERSION")
SERIES=$(echo "$KVER" | cut -d. -f1,2)
declare -A SRC=(
  [gpio-virtio]=drivers/gpio/gpio-virtio.c
  [i2c-virtio]=drivers/i2c/busses/i2c-virtio.c
  [spi-virtio]=drivers/spi/spi-virtio.c
  [virtio_can]=drivers/net/can/virtio_can.c
)
paths=(); names=()
for m in "$@"; do
  case "$m" in
    *.c) [ -f "$m" ] || fail "no module source $m"; names+=("$(basename "$m" .c)") ;;
    *) [ -n "${SRC[$m]:-}" ] || fail "no recipe for module $m (known: ${!SRC[*]}, or a .c path)"; paths+=("linux-source-$SERIES/${SRC[$m]}"); names+=("$m") ;;
  esac
done

WORK=/var/tmp/vmv-modules.$$
TMP=$OUT.tmp.$$
cleanup() { unmount_under "$ROOT/proc"; rm -rf "$ROOT$WORK" "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$ROOT$WORK/build" "$TMP"

# the headers (they pull in the kernel's compiler, gcc-N-for-host) and make, at exactly the kernel's version
HDR=linux-headers-$KVER
BPO=$(. "$ROOT/etc/os-release" && echo "$VERSION_CODENAME")-backports   # the kernel's dependencies come from there too
if [ ! -f "$ROOT/usr/src/$HDR/Makefile" ] || ! chroot "$ROOT" sh -c 'command -v make && command -v as && command -v gcc-14' >/dev/null; then
  step "installing $HDR=$VERSION, gcc-14 and make in $ROOT"
  apt_in "$ROOT" install -t "$BPO" --no-install-recommends "$HDR=$VERSION" gcc-14 make >"$ROOT$WORK/apt.log" 2>&1 \
    || { apt_in "$ROOT" update >/dev/null 2>&1 && apt_in "$ROOT" install -t "$BPO" --no-install-recommends "$HDR=$VERSION" gcc-14 make >"$ROOT$WORK/apt.log" 2>&1; } \
    || fail "cannot install $HDR=$VERSION in $ROOT: $(tail -n 3 "$ROOT$WORK/apt.log" | tr '\n' ' ')"
  apt_in "$ROOT" clean >/dev/null 2>&1 || true
fi

# the sources: download linux-source-SERIES (same version) and pull the files out in one pass
if [ ${#paths[@]} -gt 0 ]; then
  step "fetching linux-source-$SERIES=$VERSION for ${paths[*]}"
  chroot "$ROOT" sh -c "cd $WORK && apt-get -q -o APT::Sandbox::User=root download linux-source-$SERIES=$VERSION" >/dev/null 2>&1 \
    || fail "apt-get download linux-source-$SERIES=$VERSION failed"
  XZ=(xz -dc); command -v xz >/dev/null || fail "need xz (apt-get install xz-utils)"; xz --help | grep -q -- '--threads' && XZ=(xz -dc -T0)
  ( cd "$ROOT$WORK" && dpkg-deb --fsys-tarfile linux-source-"$SERIES"_*.deb | tar -xO "./usr/src/linux-source-$SERIES.tar.xz" \
      | "${XZ[@]}" | tar -x "${paths[@]}" ) || fail "extracting ${paths[*]} from linux-source-$SERIES failed"
  rm -f "$ROOT$WORK"/linux-source-*.deb
fi
for m in "$@"; do
  case "$m" in *.c) cp "$m" "$ROOT$WORK/build/" ;; *) cp "$ROOT$WORK/linux-source-$SERIES/${SRC[$m]}" "$ROOT$WORK/build/$m.c" ;; esac
done
for n in "${names[@]}"; do echo "obj-m += $n.o" >> "$ROOT$WORK/build/Kbuild"; done

step "building ${names[*]} against $HDR"
with_proc "$ROOT" chroot "$ROOT" make -s -C "/usr/src/$HDR" M="$WORK/build" -j"$(nproc)" modules >"$ROOT$WORK/make.log" 2>&1 \
  || fail "make failed: $(tail -n 15 "$ROOT$WORK/make.log")"

# vermagic must match what Debian built for this kernel, or the guest refuses the module
REF=$(find "$KDIR/kpkg/lib/modules/$KVER/kernel" -name 'virtio_blk.ko*' | head -1)
want=$(modinfo -F vermagic "$REF")
for m in "${names[@]}"; do
  got=$(modinfo -F vermagic "$ROOT$WORK/build/$m.ko")
  [ "$got" = "$want" ] || fail "$m.ko has vermagic '$got', the kernel's modules '$want'"
  cp "$ROOT$WORK/build/$m.ko" "$TMP/"
done
rm -rf "$OUT"; mv "$TMP" "$OUT"
step "built ${names[*]} (vermagic $want) in $OUT"
