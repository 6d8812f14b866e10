#!/bin/sh
# /init of the @vmv test initramfs (busybox ash). Kernel command line knobs:
#   rdtest=a,b,c     run /tests/a.sh, /tests/b.sh, ... in order (default: smoke)
#   rdshell=1        drop to a shell on the console instead of powering off (debugging by hand)
# Every test prints "GUEST-TEST <name> PASS|FAIL" and may print "GUEST-VALUE <key> <value>" lines the host
# checks. The last line is "GUEST-MARKER: DONE pass=N fail=M uptime=S"; then the guest powers off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /tmp /run /mnt && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /tmp
echo "GUEST-INIT: start kernel=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime)"
# modules in dependency order (resolved at build time with modprobe --show-depends): the base image's list,
# then the lists of the archives a test appended (/etc/modules.d/*.list)
for list in /etc/modules.list /etc/modules.d/*.list; do
  [ -f "$list" ] || continue
  while read -r m; do
    [ -n "$m" ] || continue
    insmod "/lib/modules/$m" 2>/tmp/insmod.err || grep -q "File exists" /tmp/insmod.err \
      || echo "GUEST-INIT: insmod $m failed: $(cat /tmp/insmod.err)"
  done < "$list"
done
echo "GUEST-INIT: modules loaded uptime=$(cut -d' ' -f1 /proc/uptime)"
RDTEST=smoke; RDSHELL=
for a in $(cat /proc/cmdline); do
  case "$a" in
    rdtest=*) RDTEST=${a#rdtest=} ;;
    rdshell=1) RDSHELL=1 ;;
  esac
done
GUEST_CMDLINE="$(cat /proc/cmdline)"; export GUEST_CMDLINE
pass=0; fail=0
for t in $(echo "$RDTEST" | tr ',' ' '); do
  if [ ! -f "/tests/$t.sh" ]; then echo "GUEST-TEST $t FAIL (no /tests/$t.sh)"; fail=$((fail+1)); continue; fi
  echo "GUEST-TEST-START $t uptime=$(cut -d' ' -f1 /proc/uptime)"
  if sh "/tests/$t.sh"; then echo "GUEST-TEST $t PASS"; pass=$((pass+1)); else echo "GUEST-TEST $t FAIL"; fail=$((fail+1)); fi
done
echo "GUEST-MARKER: DONE pass=$pass fail=$fail uptime=$(cut -d' ' -f1 /proc/uptime)"
[ -n "$RDSHELL" ] && exec setsid cttyhack sh
sync
poweroff -f
