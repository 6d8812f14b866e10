# A PCI function served by @vmv/vfio-user behind QEMU's vfio-user-pci: the kernel enumerates it (vendor and
# device from the config space our server serves), assigns its BAR, and reads and writes of the BAR through
# /dev/mem reach the server: a fixed magic word, a scratch register written and read back, and the server's
# count of BAR reads; then the device reads every DMA window of QEMU's (messages for those without an fd) and
# reports how it went. Knobs: vfu.vendor=, vfu.device= (as sysfs prints them).
. /tests/lib.sh
vendor=$(arg vfu.vendor 0x5a5a); device=$(arg vfu.device 0x0001)
dev=
for d in /sys/bus/pci/devices/*; do
  [ "$(cat "$d/vendor")" = "$vendor" ] && [ "$(cat "$d/device")" = "$device" ] && dev=$d
done
[ -n "$dev" ] || die "no PCI function $vendor:$device (have: $(for d in /sys/bus/pci/devices/*; do printf '%s ' "$(cat "$d/vendor"):$(cat "$d/device")"; done))"
echo "vfio-user function $(basename "$dev") $(cat "$dev/vendor"):$(cat "$dev/device") class=$(cat "$dev/class") driver=$(basename "$(readlink "$dev/driver" 2>/dev/null)" 2>/dev/null)"
val vfu.function "$(cat "$dev/vendor"):$(cat "$dev/device")"
set -- $(head -1 "$dev/resource")
base=$(($1)); end=$(($2))
echo "BAR0 $1-$2 flags $3"
[ "$base" -ne 0 ] || die "BAR0 has no address"
val vfu.bar0-size $((end - base + 1))
echo 1 > "$dev/enable" || die "cannot enable $(basename "$dev")"
val vfu.magic $(( $(devmem "$base" 32) ))
devmem $((base + 4)) 32 0x12345678
val vfu.scratch $(( $(devmem $((base + 4)) 32) ))
val vfu.reads $(( $(devmem $((base + 8)) 32) ))
# bus mastering on (command register: memory | bus master), else QEMU refuses the device's DMA
printf '\006' | dd of="$dev/config" bs=1 seek=4 conv=notrunc 2>/dev/null || die "cannot enable bus mastering"
val vfu.command $(od -An -tu1 -j 4 -N 1 "$dev/config" | tr -d ' ')
devmem $((base + 12)) 32 1
i=0; while [ "$(( $(devmem $((base + 16)) 32) ))" -eq 0 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
val vfu.dma $(( $(devmem $((base + 16)) 32) ))
