# A device of an ID no guest driver claims, behind QEMU's vhost-user-test-device-pci: virtio_pci binds the PCI
# function and registers the virtio device with our ID; then, with virtio_pci unbound, the modern PCI layout read
# through /dev/mem gives the queue count QEMU was told and the config bytes our device serves (GET_CONFIG).
# Knobs: td.id= (decimal), td.queues=, td.config= (hex bytes).
. /tests/lib.sh
id=$(arg td.id 38); nq=$(arg td.queues 1); cfg=$(arg td.config "")
want=$(printf '0x%04x' "$id")
vdev=
for d in /sys/bus/virtio/devices/*; do [ "$(cat "$d/device" 2>/dev/null)" = "$want" ] && vdev=$d; done
[ -n "$vdev" ] || die "no virtio device with id $want (have: $(cat /sys/bus/virtio/devices/*/device 2>/dev/null | tr '\n' ' '))"
drv=$(basename "$(readlink "$vdev/driver" 2>/dev/null)" 2>/dev/null)
pci=$(basename "$(readlink -f "$vdev/..")")
pdrv=$(basename "$(readlink "/sys/bus/pci/devices/$pci/driver" 2>/dev/null)")
echo "virtio device $(basename "$vdev") id=$want vendor=$(cat "$vdev/vendor") status=$(cat "$vdev/status") driver=${drv:-NONE} on PCI $pci ($(cat "/sys/bus/pci/devices/$pci/vendor"):$(cat "/sys/bus/pci/devices/$pci/device")) bound to ${pdrv:-NONE}"
[ "$pdrv" = virtio-pci ] || die "PCI function $pci is bound to '${pdrv:-nothing}', not virtio-pci"
[ -z "$drv" ] || die "virtio device unexpectedly bound to $drv"
val td.pci-device "$(cat "/sys/bus/pci/devices/$pci/device")"
P=/sys/bus/pci/devices/$pci
byte() { od -An -tu1 -j "$1" -N 1 "$P/config" | tr -d ' '; }
le32() { echo $(( $(byte "$1") | $(byte $(($1+1)))<<8 | $(byte $(($1+2)))<<16 | $(byte $(($1+3)))<<24 )); }
# walk the capability list for the virtio structures (VIRTIO 1.2 §4.1.4): type 1 common, type 4 device-specific
cap=$(byte 52); common= ; devcfg=
while [ "$cap" -ne 0 ]; do
  if [ "$(byte "$cap")" -eq 9 ]; then
    type=$(byte $((cap+3))); bar=$(byte $((cap+4))); off=$(le32 $((cap+8))); len=$(le32 $((cap+12)))
    base=$(sed -n "$((bar+1))p" "$P/resource" | cut -d' ' -f1)
    [ "$type" -eq 1 ] && common=$((base + off))
    [ "$type" -eq 4 ] && { devcfg=$((base + off)); devlen=$len; }
  fi
  cap=$(byte $((cap+1)))
done
[ -n "$common" ] && [ -n "$devcfg" ] || die "no common or device config structure in the capabilities"
echo "$pci" > /sys/bus/pci/drivers/virtio-pci/unbind || die "cannot unbind virtio-pci"
got_nq=$(( $(devmem $((common + 18)) 16) ))
got_cfg=
i=0; n=$(( ${#cfg} / 2 ))
while [ $i -lt $n ]; do got_cfg=$got_cfg$(printf '%02x' $(( $(devmem $((devcfg + i)) 8) ))); i=$((i+1)); done
echo "num_queues $got_nq, device config ($devlen bytes) $got_cfg"
val td.queues "$got_nq"
val td.config "$got_cfg"
[ "$got_nq" -eq "$nq" ] || die "num_queues $got_nq, expected $nq"
[ "$got_cfg" = "$cfg" ] || die "config $got_cfg, expected $cfg"
