# LUNs added, resized and removed while the guest runs, through vmv-vhost-user-scsi's control socket (the host acts on
# each GUEST-SCSI-HOTPLUG line; the guest only polls sysfs, with no rescan of the host adapter):
#   add     the host adds image 1 as LUN 1, and image 2 read-only as LUN 0 of a new target 1: virtio_scsi adds the
#           disks on the TRANSPORT_RESET events (RESCAN); the guest reads the host's data in both and writes its own
#           into LUN 1 (O_DIRECT)
#   resize  the host grows image 0 and resizes LUN 0: with VIRTIO_SCSI_F_CHANGE negotiated, virtio_scsi rescans the
#           disk on the PARAM_CHANGE event; without it, the guest rescans the disk (its sysfs rescan); then it writes
#           past the old end
#   remove  the host removes LUN 1 and target 1's LUN 0: virtio_scsi removes the disks on the TRANSPORT_RESET events
#           (REMOVED)
# and LUN 0 still reads the host's data at the end. The negotiated features are reported for the host to check.
. /tests/lib.sh
scsi_wait 0
d0=$(scsi_lun 0); sd0=/dev/$(ls "$d0/block")
for v in /sys/bus/virtio/devices/*; do [ "$(cat $v/device)" = 0x0008 ] && val hp.features "$(cat $v/features)"; done
off=$(arg hp.off 1048576); len=$(arg hp.len 1048576)
val hp.lun0.before "$(rdmd5 "$sd0" "$off" "$len" 65536)"
# poll COND LIMIT_DECISECONDS WHAT: waits for a shell condition (fails only on a hang)
poll() { i=0; while ! eval "$1"; do sleep 0.1; i=$((i + 1)); [ $i -lt "$2" ] || die "$3 did not happen within $(($2 / 10)) s"; done; }

echo "GUEST-SCSI-HOTPLUG add"
poll '[ -n "$(scsi_lun 1)" ]' 1200 "LUN 1 appearing"
d1=$(scsi_lun 1); sd1=/dev/$(ls "$d1/block"); wait_dev "$sd1"
echo "LUN 1 added: $sd1 ($(cat /sys/block/${sd1#/dev/}/size) sectors)"
val hp.lun1.sectors "$(cat /sys/block/${sd1#/dev/}/size)"
val hp.lun1.read "$(rdmd5 "$sd1" "$off" "$len" 65536)"
dd if=/dev/urandom of=/tmp/w1 bs=65536 count=$((len / 65536)) 2>/dev/null
val hp.lun1.write "$(md5 < /tmp/w1)"
dd if=/tmp/w1 of="$sd1" bs=65536 seek=$((2 * off / 65536)) oflag=direct conv=fsync 2>/dev/null || die "writing LUN 1 failed"
# target 1, LUN 0
t1() { for d in /sys/bus/scsi/devices/*:0:1:0; do [ -d "$d/block" ] && echo "$d" && return; done; }
poll '[ -n "$(t1)" ]' 1200 "target 1 LUN 0 appearing"
dt=$(t1); sdt=/dev/$(ls "$dt/block"); wait_dev "$sdt"
echo "target 1 LUN 0 added: $sdt"
val hp.t1.ro "$(cat /sys/block/${sdt#/dev/}/ro)"
val hp.t1.read "$(rdmd5 "$sdt" "$off" "$len" 65536)"

old=$(cat /sys/block/${sd0#/dev/}/size); val hp.lun0.old "$old"
echo "GUEST-SCSI-HOTPLUG resize"
change=0
for v in /sys/bus/virtio/devices/*; do [ "$(cat $v/device)" = 0x0008 ] && change=$(cut -c3 < $v/features); done
if [ "$change" = 1 ]; then
  poll '[ "$(cat /sys/block/${sd0#/dev/}/size)" != "$old" ]' 1200 "the new capacity after PARAM_CHANGE"
  val hp.resize.how event
else
  # no PARAM_CHANGE: the disk is rescanned (again and again until the host has resized it)
  poll 'echo 1 > "$d0/rescan"; [ "$(cat /sys/block/${sd0#/dev/}/size)" != "$old" ]' 1200 "the new capacity after a rescan"
  val hp.resize.how rescan
fi
new=$(cat /sys/block/${sd0#/dev/}/size); val hp.lun0.new "$new"
echo "LUN 0 resized: $old -> $new sectors"
dd if=/dev/urandom of=/tmp/w0 bs=65536 count=$((len / 65536)) 2>/dev/null
val hp.lun0.past "$(md5 < /tmp/w0)"
dd if=/tmp/w0 of="$sd0" bs=65536 seek=$((old * 512 / 65536)) oflag=direct conv=fsync 2>/dev/null || die "writing past LUN 0's old end failed"
[ "$(rdmd5 "$sd0" $((old * 512)) "$len" 65536)" = "$(md5 < /tmp/w0)" ] || die "reading back past LUN 0's old end differs"

echo "GUEST-SCSI-HOTPLUG remove"
poll '[ ! -d "$d1" ] && [ ! -b "$sd1" ]' 1200 "LUN 1 disappearing"
poll '[ ! -d "$dt" ] && [ ! -b "$sdt" ]' 1200 "target 1 LUN 0 disappearing"
echo "LUN 1 and target 1 removed: $(ls /sys/bus/scsi/devices | tr '\n' ' ')"
val hp.lun1.gone 1
val hp.lun0.after "$(rdmd5 "$sd0" "$off" "$len" 65536)"
val hp.done 1
