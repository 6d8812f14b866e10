# virtio-scsi on vmv-vhost-user-scsi (packages/vhost-user-scsi) behind QEMU's vhost-user-scsi-pci: virtio_scsi, sd_mod,
# sg and Debian's sg3-utils. Target 0 has two LUNs: 0 read-write, 1 read-only. For each LUN the raw responses (hex) of
# INQUIRY, VPD pages 00h 80h 83h B0h B1h B2h, READ CAPACITY(16) and REPORT LUNS, which the host decodes field by field
# against what it configured; then a WRITE(10) to LUN 1 through sg (its sense), a read of what the host wrote into
# LUN 0's image (scsi.read-at= bytes at scsi.read-off=) and a write of random bytes into LUN 0 with O_DIRECT (their md5;
# the host finds them in the image after the run).
. /tests/lib.sh
scsi_wait 0 1
for lun in 0 1; do
  d=$(scsi_lun $lun)
  sd=/dev/$(ls "$d/block"); sg=/dev/$(ls "$d/scsi_generic")
  wait_dev "$sd"
  echo "LUN $lun: $sd $sg, vendor '$(cat $d/vendor)' model '$(cat $d/model)' rev '$(cat $d/rev)'"
  val scsi.$lun.dev "$sd"
  val scsi.$lun.ro "$(cat /sys/block/${sd#/dev/}/ro)"
  val scsi.$lun.inq "$(sg_inq -r "$sg" | hex)"
  for p in 0x00 0x80 0x83 0xb0 0xb1 0xb2; do val scsi.$lun.vpd.$p "$(sg_vpd -p $p -r "$sg" | hex)"; done
  val scsi.$lun.readcap "$(sg_readcap -l -r "$sg" | hex)"
  val scsi.$lun.luns "$(sg_luns -r "$sg" | hex)"
done
sg1=/dev/$(ls "$(scsi_lun 1)/scsi_generic")
dd if=/dev/urandom of=/tmp/blk bs=512 count=1 2>/dev/null
out=$(sg_raw -s 512 -i /tmp/blk "$sg1" 2a 00 00 00 00 00 00 00 01 00 2>&1); rc=$?
echo "$out"
val scsi.ro.write-rc "$rc"
val scsi.ro.sense "$(echo "$out" | grep -i -o 'data protect' | head -1 | tr ' ' _)"
val scsi.ro.asc "$(echo "$out" | grep -i -o 'write protected' | head -1 | tr ' ' _)"
sd0=/dev/$(ls "$(scsi_lun 0)/block")
off=$(arg scsi.read-off 1048576); len=$(arg scsi.read-len 65536)
val scsi.read "$(rdmd5 "$sd0" "$off" "$len" 4096)"
woff=$(arg scsi.write-off 2097152)
dd if=/dev/urandom of=/tmp/w bs=65536 count=1 2>/dev/null
val scsi.write "$(md5 < /tmp/w)"
dd if=/tmp/w of="$sd0" bs=65536 seek=$((woff / 65536)) count=1 oflag=direct 2>/dev/null || die "writing LUN 0 failed"
sync
val scsi.done 1
