# Read-only export: the device must say ro=1 and an O_DIRECT write must fail; reads still work
# (GUEST-VALUE read-md5 of [0, 4M)). The host checks that the image file did not change.
. /tests/lib.sh
DEV=$(arg blk.dev /dev/vda); wait_dev "$DEV"
RO=$(blockdev --getro "$DEV"); val ro "$RO"
[ "$RO" = 1 ] || die "device is not read-only (ro=$RO)"
val read-md5 "$(rdmd5 "$DEV" 0 4194304 1048576)"
dd if=/dev/urandom of=/tmp/pat bs=4096 count=1 2>/dev/null
if dd if=/tmp/pat of="$DEV" bs=4096 seek=1 count=1 oflag=direct conv=fsync,notrunc 2>/tmp/err; then die "a write to a read-only device succeeded"; fi
echo "write refused as expected: $(cat /tmp/err)"
