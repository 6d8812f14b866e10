# The virtio drivers Debian does not build (gpio-virtio, i2c-virtio, spi-virtio, virtio_can; built out of tree
# for this kernel) bind to @vmv test devices and work with Debian's tools: gpiodetect/gpioinfo see a chip of
# oot.ngpio lines, i2cget reads a byte through the virtio adapter, an SPI child made through the controller's
# new_device gets a spidev node, and can0 comes up and sends a frame.
. /tests/lib.sh
ngpio=$(arg oot.ngpio 8)
bound() {  # ID NAME-PART: the virtio device with that id is bound to a driver whose name contains NAME-PART
  for d in /sys/bus/virtio/devices/*; do
    [ "$(cat "$d/device")" = "$1" ] || continue
    drv=$(basename "$(readlink "$d/driver" 2>/dev/null)" 2>/dev/null)
    echo "virtio $(basename "$d") id=$1 driver=${drv:-NONE} status=$(cat "$d/status")"
    case "$drv" in *"$2"*) return 0 ;; esac
  done
  return 1
}
bound 0x0029 gpio || die "no virtio-gpio device bound to gpio-virtio"
bound 0x0022 i2c || die "no virtio-i2c device bound to i2c-virtio"
bound 0x002d spi || die "no virtio-spi device bound to spi-virtio"
bound 0x0024 can || die "no virtio-can device bound to virtio_can"
for m in gpio_virtio i2c_virtio spi_virtio virtio_can; do
  [ -d /sys/module/$m ] || die "module $m is not loaded"
  echo "module $m taint=$(cat /sys/module/$m/taint 2>/dev/null)"
done

# GPIO: the chip registers (gpiolib asked the device for every line's direction) and gpiodetect lists it
out=$(gpiodetect 2>&1); echo "gpiodetect: $out"
echo "$out" | grep -q "($ngpio lines)" || die "gpiodetect shows no chip of $ngpio lines"
chip=$(echo "$out" | head -n 1 | cut -d' ' -f1)
gpioinfo -c "$chip" >/tmp/gpioinfo 2>&1 || die "gpioinfo failed: $(cat /tmp/gpioinfo)"
[ "$(grep -c 'line ' /tmp/gpioinfo)" -eq "$ngpio" ] || die "gpioinfo: $(cat /tmp/gpioinfo)"
val oot.gpio-lines "$ngpio"

# I2C: the adapter appears, and a read of a register goes through the device (which answers zeros, status OK)
out=$(i2cdetect -l 2>&1); echo "i2cdetect -l: $out"
bus=$(echo "$out" | grep -i virtio | head -n 1 | cut -f1 | sed 's/i2c-//')
[ -n "$bus" ] || die "no virtio i2c adapter in i2cdetect -l"
got=$(i2cget -y "$bus" 0x50 0x00 2>&1) || die "i2cget on bus $bus failed: $got"
echo "i2cget -y $bus 0x50 0x00: $got"
[ "$got" = 0x00 ] || die "i2cget read $got, the device answers 0x00"
val oot.i2c-read "$got"

# SPI: a spidev child on the virtio controller, through the kernel's own new_device interface
ctl=$(ls /sys/class/spi_master 2>/dev/null | head -n 1)
[ -n "$ctl" ] || die "no SPI controller registered"
echo spidev 0 > "/sys/class/spi_master/$ctl/new_device" || die "new_device on $ctl refused"
i=0; while [ ! -c "/dev/spidev${ctl#spi}.0" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
[ -c "/dev/spidev${ctl#spi}.0" ] || die "no /dev/spidev${ctl#spi}.0 after new_device"
val oot.spidev "/dev/spidev${ctl#spi}.0"

# CAN: the interface comes up (a START on the control queue) and a frame goes out on the tx queue
[ -d /sys/class/net/can0 ] || die "no can0"
ip link set can0 up || die "ip link set can0 up failed"
cansend can0 123#DEADBEEF || die "cansend failed"
# the device acknowledges the frame on the tx queue; wait for the driver to count it (a hang fails at 30 s)
i=0; while [ "$(cat /sys/class/net/can0/statistics/tx_packets)" -lt 1 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
echo "can0: $(cat /sys/class/net/can0/operstate) tx_packets=$(cat /sys/class/net/can0/statistics/tx_packets)"
[ "$(cat /sys/class/net/can0/statistics/tx_packets)" -ge 1 ] || die "the frame was never acknowledged"
val oot.can-tx "$(cat /sys/class/net/can0/statistics/tx_packets)"
