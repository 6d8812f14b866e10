# The blk workloads on two SCSI disks of vmv-vhost-user-scsi at once (target 0, LUN 0 and LUN 1, one job each,
# concurrently); lib/scsi-disk.mjs checks the images on the host after the run.
#   LUN 0: guest/tests/blk.sh's layout (host data read in 1 MiB and 4 KiB O_DIRECT requests, O_DIRECT + fsync
#          writes; its values prefixed disk.blk.), then blkdiscard on three host-filled ranges from disk.discard-off=
#          (disk.discard-len= bytes each), with sd's provisioning_mode unmap, writesame_16 and writesame_10 (UNMAP,
#          WRITE SAME(16) and (10) with UNMAP): md5 (O_DIRECT) before and after each.
#   LUN 1: mkfs.ext4, 120 files of 0 B to 3 MiB of random bytes in 8 directories, their md5s in /MD5SUMS, sync,
#          umount, e2fsck -fn, mount, every md5 verified; the 3 MiB files' extents (filefrag) printed, the files
#          deleted, sync, fstrim; umount, e2fsck -fn.
. /tests/lib.sh
scsi_wait 0 1
d0=$(scsi_lun 0); d1=$(scsi_lun 1)
sd0=/dev/$(ls "$d0/block"); sd1=/dev/$(ls "$d1/block")
wait_dev "$sd0"; wait_dev "$sd1"
c0=/sys/class/scsi_disk/$(basename "$d0")
echo "LUN 0: $sd0, LUN 1: $sd1"
val disk.provisioning "$(cat "$c0/provisioning_mode")"
up() { cut -d' ' -f1 /proc/uptime; }

lun0() {
  val disk.lun0.start "$(up)"
  GUEST_CMDLINE="blk.dev=$sd0 $GUEST_CMDLINE" sh /tests/blk.sh > /tmp/blk.out 2>&1; rc=$?
  sed 's/^GUEST-VALUE /GUEST-VALUE disk.blk./' /tmp/blk.out
  [ $rc = 0 ] || die "blk.sh on LUN 0 ($sd0) failed"
  off=$(arg disk.discard-off 0); len=$(arg disk.discard-len 0)
  [ "$len" -gt 0 ] || die "no disk.discard-len= on the command line"
  for mode in unmap writesame_16 writesame_10; do
    echo $mode > "$c0/provisioning_mode" || die "sd refused provisioning_mode $mode"
    val disk.discard.$mode.mode "$(cat "$c0/provisioning_mode")"
    val disk.discard.$mode.before "$(rdmd5 "$sd0" "$off" "$len" 65536)"
    blkdiscard -f -o "$off" -l "$len" "$sd0" || die "blkdiscard -o $off -l $len ($mode) failed: $(dmesg | tail -3)"
    val disk.discard.$mode.after "$(rdmd5 "$sd0" "$off" "$len" 65536)"
    off=$((off + len))
  done
  val disk.lun0.end "$(up)"
}

# the size of file i: 0 B, 1 B, a block, odd sizes around blocks, 64 KiB, 1 MiB, 3 MiB + 4093 B
size() {
  case $(($1 % 12)) in 0) echo 0;; 1) echo 1;; 2) echo 4096;; 3) echo 511;; 4) echo 513;; 5) echo 4095;; 6) echo 4097;;
    7) echo 12345;; 8) echo 65536;; 9) echo 200003;; 10) echo 1048576;; *) echo 3149821;; esac
}
lun1() {
  val disk.lun1.start "$(up)"
  /usr/sbin/mkfs.ext4 -F -q -b 4096 -L vmvscsi "$sd1" || die "mkfs.ext4 on LUN 1 ($sd1) failed"
  mount -t ext4 "$sd1" /mnt || die "mount failed: $(dmesg | tail -3)"
  i=0; big=
  while [ $i -lt 120 ]; do
    f=d$((i % 8))/f$i; n=$(size $i)
    mkdir -p /mnt/d$((i % 8))
    head -c "$n" /dev/urandom > /mnt/$f || die "writing /mnt/$f failed"
    [ "$n" -lt 3000000 ] || big="$big $f"
    i=$((i + 1))
  done
  (cd /mnt && md5sum d*/f*) > /tmp/sums
  [ "$(wc -l < /tmp/sums)" = 120 ] || die "$(wc -l < /tmp/sums) files, not 120"
  cp /tmp/sums /mnt/MD5SUMS
  sync
  umount /mnt || die "umount failed"
  /usr/sbin/e2fsck -fn "$sd1" > /tmp/fsck.out 2>&1 || { cat /tmp/fsck.out; die "e2fsck -fn after writing found problems"; }
  echo "e2fsck: $(tail -1 /tmp/fsck.out)"
  mount -t ext4 "$sd1" /mnt || die "remount failed: $(dmesg | tail -3)"
  (cd /mnt && md5sum -c -s MD5SUMS) || { (cd /mnt && md5sum -c MD5SUMS 2>&1 | grep -v ': OK$'); die "checksums differ after remount"; }
  cmp /tmp/sums /mnt/MD5SUMS || die "MD5SUMS changed"
  # the big files' extents (bytes on the device: offset+length), then they go and fstrim hands their blocks back
  ext=
  for f in $big; do
    ext="$ext $(filefrag -e "/mnt/$f" | awk '/blocks of/ { for (i = 1; i + 2 <= NF; i++) if ($i == "blocks" && $(i + 1) == "of") bs = $(i + 2) }
      /^ *[0-9]+:/ { gsub(/\.\./, " "); gsub(/:/, " "); printf "%.0f+%.0f ", $4 * bs, $6 * bs }')"
  done
  val disk.fs.deleted "$(echo $big | tr ' ' ,)"
  val disk.fs.extents "$(echo $ext | tr ' ' ,)"
  (cd /mnt && rm $big) || die "rm failed"
  sync
  out=$(fstrim -v /mnt) || die "fstrim failed: $(dmesg | tail -3)"
  echo "$out"
  # "/mnt: 90.8 MiB (95178752 bytes) trimmed", or without the first figure
  val disk.fs.trimmed "$(echo "$out" | grep -o '[0-9]* bytes' | tail -1 | cut -d' ' -f1)"
  umount /mnt || die "final umount failed"
  /usr/sbin/e2fsck -fn "$sd1" > /tmp/fsck.out 2>&1 || { cat /tmp/fsck.out; die "e2fsck -fn after fstrim found problems"; }
  while read -r sum name; do val "disk.fs.$name" "$sum"; done < /tmp/sums
  val disk.lun1.end "$(up)"
}

lun0 > /tmp/lun0.out 2>&1 &
p0=$!
lun1 > /tmp/lun1.out 2>&1 &
p1=$!
wait $p0; r0=$?
wait $p1; r1=$?
cat /tmp/lun0.out /tmp/lun1.out
[ $r0 = 0 ] || die "the LUN 0 job failed"
[ $r1 = 0 ] || die "the LUN 1 job failed"
val disk.done 1
