# The demo's guest workload (busybox ash), run by the test initramfs's /init as /tests/demo.sh.
# It talks to the host in lines the demo parses and shows:
#   DEMO-STEP <text>              a new phase
#   DEMO-PROGRESS <text>          progress inside a phase
#   DEMO-RESULT <key> <value>     a measurement (bytes, seconds, ...)
#   DEMO-CHECK <name> PASS|FAIL <text>
#   GUEST-VALUE <key> <value>     values the host checks against the image file afterwards
# Layout of /dev/vda: an ext4 filesystem on the first FS_MIB MiB, a raw area after it for the O_DIRECT
# measurements and the host-checked integrity pattern (the last 8 MiB of the device).
. /tests/lib.sh
DEV=/dev/vda; wait_dev "$DEV"
FS_MIB=$(arg demo.fs 192)
FILES=$(arg demo.files 8)
FILE_MIB=$(arg demo.filemib 4)
up() { cut -d' ' -f1 /proc/uptime; }
rate() { awk -v b="$1" -v a="$2" -v z="$3" 'BEGIN { t = z - a; if (t <= 0) t = 0.01; printf "%.1f", b / 1048576 / t }'; }
check() { if [ "$2" = PASS ]; then echo "DEMO-CHECK $1 PASS $3"; else echo "DEMO-CHECK $1 FAIL $3"; FAILED=1; fi; }
FAILED=

SIZE=$(blockdev --getsize64 "$DEV")
SIZE_MIB=$((SIZE / 1048576))
NQ=$(ls /sys/block/vda/mq 2>/dev/null | wc -l)
SERIAL=$(cat /sys/block/vda/serial 2>/dev/null)
echo "DEMO-STEP the guest sees /dev/vda: ${SIZE_MIB} MiB, ${NQ} request queue(s), serial '${SERIAL}', driver $(basename "$(readlink /sys/block/vda/device/driver)")"
echo "DEMO-RESULT size $SIZE"
echo "DEMO-RESULT queues $NQ"
echo "DEMO-RESULT serial $SERIAL"
RAW_OFF_MIB=$FS_MIB
RAW_MIB=$((SIZE_MIB - FS_MIB - 8))
[ "$RAW_MIB" -ge 16 ] || die "device too small: ${SIZE_MIB} MiB"

echo "DEMO-STEP raw O_DIRECT throughput on [${RAW_OFF_MIB}M, $((RAW_OFF_MIB + RAW_MIB))M)"
t0=$(up)
dd if=/dev/zero of="$DEV" bs=1M seek="$RAW_OFF_MIB" count="$RAW_MIB" oflag=direct conv=notrunc 2>/dev/null || die "O_DIRECT write failed"
t1=$(up)
echo "DEMO-PROGRESS sequential write, 1 MiB requests: $RAW_MIB MiB in $(awk -v a="$t0" -v z="$t1" 'BEGIN{printf "%.2f", z-a}') s = $(rate $((RAW_MIB * 1048576)) "$t0" "$t1") MiB/s"
echo "DEMO-RESULT seqwrite $((RAW_MIB * 1048576)) $t0 $t1"
t0=$(up)
dd if="$DEV" of=/dev/null bs=1M skip="$RAW_OFF_MIB" count="$RAW_MIB" iflag=direct 2>/dev/null || die "O_DIRECT read failed"
t1=$(up)
echo "DEMO-PROGRESS sequential read, 1 MiB requests: $RAW_MIB MiB in $(awk -v a="$t0" -v z="$t1" 'BEGIN{printf "%.2f", z-a}') s = $(rate $((RAW_MIB * 1048576)) "$t0" "$t1") MiB/s"
echo "DEMO-RESULT seqread $((RAW_MIB * 1048576)) $t0 $t1"
N4K=8192
t0=$(up)
dd if="$DEV" of=/dev/null bs=4096 skip=$((RAW_OFF_MIB * 256)) count=$N4K iflag=direct 2>/dev/null || die "4 KiB reads failed"
t1=$(up)
echo "DEMO-PROGRESS 4 KiB reads, one at a time: $N4K requests in $(awk -v a="$t0" -v z="$t1" 'BEGIN{printf "%.2f", z-a}') s = $(awk -v n=$N4K -v a="$t0" -v z="$t1" 'BEGIN{t=z-a; if(t<=0)t=0.01; printf "%d", n/t}') IOPS"
echo "DEMO-RESULT read4k $N4K $t0 $t1"

echo "DEMO-STEP data integrity: 8 MiB of random data written with O_DIRECT at the end of the disk"
dd if=/dev/urandom of=/tmp/pattern bs=1M count=8 2>/dev/null
PAT_MIB=$((SIZE_MIB - 8))
dd if=/tmp/pattern of="$DEV" bs=1M seek="$PAT_MIB" count=8 oflag=direct conv=fsync,notrunc 2>/dev/null || die "pattern write failed"
W=$(md5 < /tmp/pattern)
R=$(dd if="$DEV" bs=1M skip="$PAT_MIB" count=8 iflag=direct 2>/dev/null | md5)
val demo-pattern-md5 "$W"
val demo-pattern-mib "$PAT_MIB"
[ "$W" = "$R" ] && check raw-readback PASS "read back through the device: md5 $R" || check raw-readback FAIL "read back $R, wrote $W"

echo "DEMO-STEP ext4: mkfs.ext4 on the first ${FS_MIB} MiB, then ${FILES} files of ${FILE_MIB} MiB"
/usr/sbin/mkfs.ext4 -F -q -b 4096 -L vmvdemo "$DEV" $((FS_MIB * 256)) || die "mkfs.ext4 failed"
mount -t ext4 "$DEV" /mnt || die "mount failed: $(dmesg | tail -3)"
echo "DEMO-PROGRESS mkfs.ext4 done, mounted: $(df -k /mnt | awk 'NR==2 {printf "%d MiB free", $4/1024}')"
mkdir -p /mnt/data
t0=$(up)
i=1
while [ $i -le "$FILES" ]; do
  dd if=/dev/urandom of=/mnt/data/file$i bs=1M count="$FILE_MIB" 2>/dev/null || die "writing file$i failed"
  echo "DEMO-PROGRESS [$i/$FILES] wrote data/file$i ($FILE_MIB MiB)"
  i=$((i + 1))
done
sync
t1=$(up)
echo "DEMO-PROGRESS sync done: $((FILES * FILE_MIB)) MiB written through ext4 in $(awk -v a="$t0" -v z="$t1" 'BEGIN{printf "%.2f", z-a}') s"
echo "DEMO-RESULT fswrite $((FILES * FILE_MIB * 1048576)) $t0 $t1"
(cd /mnt && md5sum data/*) > /tmp/sums
cp /tmp/sums /mnt/MD5SUMS
umount /mnt || die "umount failed"
check fs-write PASS "$FILES files written, synced and unmounted"
if /usr/sbin/e2fsck -fn "$DEV" > /tmp/fsck.out 2>&1; then
  check guest-fsck PASS "e2fsck -fn: $(tail -1 /tmp/fsck.out)"
else
  cat /tmp/fsck.out; check guest-fsck FAIL "e2fsck -fn found problems"
fi
echo "DEMO-STEP remount and verify every checksum"
mount -t ext4 -o ro "$DEV" /mnt || die "remount failed"
if (cd /mnt && md5sum -c -s MD5SUMS); then
  check remount-md5 PASS "md5sum -c: all $FILES files intact after remount"
else
  check remount-md5 FAIL "checksums differ after remount"
fi
umount /mnt
while read -r sum name; do val "demo-$name-md5" "$sum"; done < /tmp/sums
[ -z "$FAILED" ]
