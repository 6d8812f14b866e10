# virtio-console behind our vfio-user function (after vfio-virtio.sh): port 0 is hvc0, port 1 is named
# (vfu.console-name=). Round 1: hvc0 (raw, no echo: Debian's stty, the tty held open so that its settings stay)
# and the named port each carry vfu.console-bytes= bytes both ways on one socat each, at once; the sha256 of what
# the guest sent and of what it read is printed for the host. Then virtio_pci is unbound (the driver resets the
# device: the ports go away) and bound again; round 2: the named port, found again by its name, carries a
# second stream both ways, and its input queue's MSI-X line counts interrupts again.
. /tests/lib.sh
n=$(arg vfu.console-bytes 1048576); name=$(arg vfu.console-name org.vmv.vfu.0)
dev=$(cat /tmp/vfu-dev); bdf=$(basename "$dev")
sha() { sha256sum | cut -d' ' -f1; }
# port_dev NAME: /dev/vportXpY of the port named NAME once it exists (fails only on a hang: 60 s)
port_dev() {
  i=0
  while [ $i -lt 600 ]; do
    for p in /sys/class/virtio-ports/vport*; do [ "$(cat "$p/name" 2>/dev/null)" = "$1" ] && { echo "/dev/${p##*/}"; return; }; done
    sleep 0.1; i=$((i+1))
  done
}
# xfer DEV TAG: one open of DEV by socat: /tmp/up.TAG goes out while n bytes come in, hashed into /tmp/down.TAG
# (blocks of 32 KiB: what virtio_console takes in one write)
xfer() {
  socat -b 32768 GOPEN:"$1" SYSTEM:"exec 3<&0; head -c $n <&3 | sha256sum > /tmp/down.$2 & cat /tmp/up.$2; wait" \
    || die "socat on $1 exited $?"
}
down() { cut -d' ' -f1 "/tmp/down.$1"; }
for t in hvc port port2; do
  head -c "$n" /dev/urandom > "/tmp/up.$t"
  val "vfu.console.$t.up" "$(sha < "/tmp/up.$t")"
done
i=0; while [ ! -e /sys/class/tty/hvc0 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
[ -e /sys/class/tty/hvc0 ] || die "no hvc0"
port=$(port_dev "$name")
[ -n "$port" ] || die "no port named $name"
val vfu.console.port-dev "$port"
exec 5<> /dev/hvc0
stty -F /dev/hvc0 raw -echo -iexten || die "stty on hvc0 failed"
# (stty -a complains that hvc0 has no window size: ENOTTY, after the speed)
val vfu.console.hvc-stty "$(stty -F /dev/hvc0 -a 2>/dev/null | tr '\n' ' ' | grep -o -- '-icanon\|-echo \|-opost' | tr '\n' ' ')"
xfer /dev/hvc0 hvc & a=$!
xfer "$port" port & b=$!
wait $a || die "hvc0 transfer failed"
wait $b || die "port transfer failed"
exec 5>&-
val vfu.console.hvc.down "$(down hvc)"
val vfu.console.port.down "$(down port)"
vdev=$(cat /tmp/vfu-vdev)
irqs() { grep -E "PCI-MSIX?.*$1-input" /proc/interrupts | awk '{ s = 0; for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; t += s } END { print t + 0 }'; }
val vfu.console.input-interrupts "$(irqs "$vdev")"
# a device reset: the driver lets go of the ports, then binds again
echo "$bdf" > /sys/bus/pci/drivers/virtio-pci/unbind || die "unbind failed"
i=0; while ls /sys/class/virtio-ports/vport* >/dev/null 2>&1 && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
ls /sys/class/virtio-ports/vport* >/dev/null 2>&1 && die "ports still there after the unbind"
val vfu.unbound 1
echo "$bdf" > /sys/bus/pci/drivers/virtio-pci/bind || die "bind failed"
port=$(port_dev "$name")
[ -n "$port" ] || die "no port named $name after the rebind"
vdev=$(basename "$(ls -d "$dev"/virtio* | head -1)")
grep -E "$vdev-" /proc/interrupts | sed 's/^/interrupts after rebind: /'
val vfu.rebind-queue-irq-lines "$(grep -E "PCI-MSIX?.*$vdev-" /proc/interrupts | grep -vc -- "-config")"
xfer "$port" port2
val vfu.console.port2.down "$(down port2)"
val vfu.console.rebind-input-interrupts "$(irqs "$vdev")"
