# Online resize through the vhost-user backend request channel: the guest asks the host to grow the image
# (GUEST-RESIZE-REQUEST), the host grows the file and tells the daemon (SIGUSR1); the daemon's BlockDevice.resize()
# reaches the guest as VHOST_USER_BACKEND_CONFIG_CHANGE_MSG -> QEMU's config interrupt -> virtio_blk's new capacity.
# GUEST-VALUE old-sectors, new-sectors, and resize-md5 (1 MiB written with O_DIRECT just past the old end, read back).
. /tests/lib.sh
DEV=$(arg blk.dev /dev/vda); wait_dev "$DEV"
NAME=${DEV#/dev/}
OLD=$(cat /sys/block/$NAME/size); val old-sectors "$OLD"
echo "GUEST-RESIZE-REQUEST $OLD"
i=0; while [ "$(cat /sys/block/$NAME/size)" = "$OLD" ] && [ $i -lt 900 ]; do sleep 0.1; i=$((i+1)); done
NEW=$(cat /sys/block/$NAME/size); val new-sectors "$NEW"
[ "$NEW" != "$OLD" ] || die "the capacity did not change within 90 s (still $OLD sectors)"
dd if=/dev/urandom of=/tmp/pat bs=1048576 count=1 2>/dev/null
dd if=/tmp/pat of="$DEV" bs=1048576 seek=$((OLD / 2048)) count=1 oflag=direct conv=fsync,notrunc 2>/dev/null || die "write past the old end failed"
val resize-md5 "$(md5 < /tmp/pat)"
[ "$(rdmd5 "$DEV" $((OLD * 512)) 1048576 4096)" = "$(md5 < /tmp/pat)" ] || die "read back past the old end differs"
