# A virtio-pci function served by vmv-vfio-user behind QEMU's vfio-user-pci: the guest's virtio_pci binds it with
# MSI-X, a vector per queue (the /proc/interrupts lines of its virtio device), and the virtio driver behind it binds.
# Knobs: vfu.device= (PCI device ID as sysfs prints it: 0x1042 blk, 0x1043 console, 0x1044 rng, 0x1069 gpio),
# vfu.driver= (virtio_blk, virtio_console, virtio_rng, gpio_virtio).
. /tests/lib.sh
want=$(arg vfu.device 0x1042); drv=$(arg vfu.driver virtio_blk)
dev=
for d in /sys/bus/pci/devices/*; do
  [ "$(cat "$d/vendor")" = 0x1af4 ] && [ "$(cat "$d/device")" = "$want" ] && dev=$d
done
[ -n "$dev" ] || die "no PCI function 0x1af4:$want (have: $(for d in /sys/bus/pci/devices/*; do printf '%s ' "$(cat "$d/vendor"):$(cat "$d/device")"; done))"
echo "$dev" > /tmp/vfu-dev
echo "vfio-user function $(basename "$dev") $(cat "$dev/vendor"):$(cat "$dev/device") class=$(cat "$dev/class") driver=$(basename "$(readlink "$dev/driver")")"
val vfu.pci-driver "$(basename "$(readlink "$dev/driver")")"
i=0; while ! ls -d "$dev"/virtio* >/dev/null 2>&1 && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
vdev=$(basename "$(ls -d "$dev"/virtio* | head -1)")
[ -n "$vdev" ] || die "no virtio device under $(basename "$dev")"
i=0; while [ ! -e "$dev/$vdev/driver" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
val vfu.virtio-driver "$(basename "$(readlink "$dev/$vdev/driver")")"
val vfu.msi-irqs "$(ls "$dev/msi_irqs" 2>/dev/null | wc -l)"
grep -E "$vdev-" /proc/interrupts | sed 's/^/interrupts: /'
val vfu.virtio-irq-lines "$(grep -cE "PCI-MSIX?.*$vdev-" /proc/interrupts)"
val vfu.queue-irq-lines "$(grep -E "PCI-MSIX?.*$vdev-" /proc/interrupts | grep -vc -- "-config")"
echo "$vdev" > /tmp/vfu-vdev
