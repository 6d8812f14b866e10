# After blk.sh: virtio_pci unbound from our vfio-user function (the driver resets the device) and bound again;
# the disk comes back, [4M,8M) reads back what blk.sh wrote, MSI-X vectors are set up again, and the per-queue
# interrupt counts grow. A 32 MiB O_DIRECT read in 1 MiB requests reports its rate (vfu.dd-read-mbs, MiB/s).
. /tests/lib.sh
dev=$(cat /tmp/vfu-dev); bdf=$(basename "$dev")
before=$(md5 < /tmp/pat)
echo "$bdf" > /sys/bus/pci/drivers/virtio-pci/unbind || die "unbind failed"
i=0; while [ -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
[ -b /dev/vda ] && die "/dev/vda still there after the unbind"
val vfu.unbound 1
echo "$bdf" > /sys/bus/pci/drivers/virtio-pci/bind || die "bind failed"
wait_dev /dev/vda
vdev=$(basename "$(ls -d "$dev"/virtio* | head -1)")
grep -E "$vdev-" /proc/interrupts | sed 's/^/interrupts after rebind: /'
val vfu.rebind-queue-irq-lines "$(grep -E "PCI-MSIX?.*$vdev-" /proc/interrupts | grep -vc -- "-config")"
val vfu.rebind-md5 "$(rdmd5 /dev/vda 4194304 4194304 1048576)"
val vfu.rebind-expected "$before"
t0=$(cut -d' ' -f1 /proc/uptime)
dd if=/dev/vda of=/dev/null bs=1M count=32 iflag=direct 2>/dev/null || die "O_DIRECT read of 32 MiB failed"
t1=$(cut -d' ' -f1 /proc/uptime)
val vfu.dd-read-mbs "$(awk "BEGIN { printf \"%.1f\", 32 / ($t1 - $t0 + 0.001) }")"
n=$(grep -E "PCI-MSIX?.*$vdev-req" /proc/interrupts | awk '{ s = 0; for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; t += s } END { print t + 0 }')
val vfu.rebind-queue-interrupts "$n"
