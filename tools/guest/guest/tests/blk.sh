# Data integrity on /dev/vda with O_DIRECT, checked on both sides. Layout (bytes):
#   [0, 4M)          the host filled it with random data before boot: the guest reads it in 1 MiB and in
#                    4 KiB requests and prints both md5s (GUEST-VALUE read-md5 / read4k-md5)
#   last 1 MiB       host-filled too: GUEST-VALUE tail-md5 (the device's last sectors)
#   [4M, 8M)         the guest writes random data with O_DIRECT + fsync and reads it back: write-md5
#   [8M+12K, +20K)   five 4 KiB O_DIRECT writes: small-md5
# The host compares every md5 with the image file after the guest powered off and the backend exited.
# cmdline: blk.size=BYTES (expected device size), blk.dev (default /dev/vda)
. /tests/lib.sh
DEV=$(arg blk.dev /dev/vda); wait_dev "$DEV"
SIZE=$(blockdev --getsize64 "$DEV"); WANT=$(arg blk.size "")
echo "blk: $DEV size=$SIZE ro=$(blockdev --getro "$DEV") ssz=$(blockdev --getss "$DEV") max_hw_kb=$(cat /sys/block/vda/queue/max_hw_sectors_kb 2>/dev/null)"
val size "$SIZE"
[ -z "$WANT" ] || [ "$SIZE" = "$WANT" ] || die "device size $SIZE, expected $WANT"
val read-md5 "$(rdmd5 "$DEV" 0 4194304 1048576)"
val read4k-md5 "$(rdmd5 "$DEV" 0 4194304 4096)"
val tail-md5 "$(rdmd5 "$DEV" $((SIZE - 1048576)) 1048576 1048576)"
dd if=/dev/urandom of=/tmp/pat bs=1M count=4 2>/dev/null
dd if=/tmp/pat of="$DEV" bs=1M seek=4 count=4 oflag=direct conv=fsync,notrunc 2>/dev/null || die "O_DIRECT write at 4M failed"
W=$(md5 < /tmp/pat); R=$(rdmd5 "$DEV" 4194304 4194304 1048576)
val write-md5 "$W"
[ "$W" = "$R" ] || die "readback of [4M,8M) $R != written $W"
dd if=/dev/urandom of=/tmp/small bs=4096 count=5 2>/dev/null
dd if=/tmp/small of="$DEV" bs=4096 seek=$(( (8388608 + 12288) / 4096 )) count=5 oflag=direct conv=fsync,notrunc 2>/dev/null || die "small writes failed"
W=$(md5 < /tmp/small); R=$(rdmd5 "$DEV" $((8388608 + 12288)) 20480 4096)
val small-md5 "$W"
[ "$W" = "$R" ] || die "readback of the small writes $R != written $W"
