# Filesystem workload: mkfs.ext4 (e2fsprogs) on /dev/vda, mount, write files of several sizes (fs.many=N: N more),
# sync, umount,
# e2fsck -fn, mount again, verify every checksum, umount. The files' md5s are stored in /MD5SUMS inside the
# filesystem and printed as GUEST-VALUE fs-<file>-md5; the host then checks the image with e2fsck -fn and
# reads the files with debugfs (no loop mount).
. /tests/lib.sh
DEV=$(arg blk.dev /dev/vda); wait_dev "$DEV"
/usr/sbin/mkfs.ext4 -F -q -L vmvtest "$DEV" || die "mkfs.ext4 failed"
mount -t ext4 "$DEV" /mnt || die "mount failed: $(dmesg | tail -3)"
mkdir -p /mnt/dir/sub
dd if=/dev/urandom of=/mnt/f bs=1M count=2 2>/dev/null
dd if=/dev/urandom of=/mnt/dir/a bs=4096 count=1 2>/dev/null
dd if=/dev/urandom of=/mnt/dir/b bs=1000 count=101 2>/dev/null
dd if=/dev/urandom of=/mnt/dir/sub/c bs=1M count=5 2>/dev/null
printf x > /mnt/dir/one
: > /mnt/dir/empty
FILES="f dir/a dir/b dir/sub/c dir/one dir/empty"
# fs.many=N: N more files of 0 to 255 KiB (and some bytes) spread over 8 directories
many=$(arg fs.many 0); i=0
while [ "$i" -lt "$many" ]; do
  d=many/d$((i % 8)); mkdir -p /mnt/$d
  head -c $(( (RANDOM % 256) * 1024 + RANDOM % 1000 )) /dev/urandom > /mnt/$d/f$i
  FILES="$FILES $d/f$i"; i=$((i + 1))
done
(cd /mnt && md5sum $FILES) > /tmp/sums
cp /tmp/sums /mnt/MD5SUMS
sync
umount /mnt || die "umount failed"
/usr/sbin/e2fsck -fn "$DEV" > /tmp/fsck.out 2>&1 || { cat /tmp/fsck.out; die "e2fsck -fn in the guest found problems"; }
echo "guest e2fsck: $(tail -1 /tmp/fsck.out)"
mount -t ext4 -o ro "$DEV" /mnt || die "remount failed"
(cd /mnt && md5sum -c /MD5SUMS 2>&1 | sed 's/^/verify: /'; md5sum -c -s /mnt/MD5SUMS) || die "checksums differ after remount"
cmp /tmp/sums /mnt/MD5SUMS || die "MD5SUMS changed"
umount /mnt || die "final umount failed"
while read -r sum name; do val "fs-$name-md5" "$sum"; done < /tmp/sums
