# virtio-i2c on vmv-vhost-user-i2c (24C02 at 0x50, 24C32 at 0x51, LM75 at 0x48; the EEPROMs in host files the host
# filled with random bytes), through the out-of-tree i2c-virtio driver, Debian's i2c-tools and the kernel's at24 and
# lm75 drivers:
#   i2cdetect -y     the addresses that answer (quick writes: the zero-length request) -> i2c.detect
#   i2cdump / get    the 24C02's 256 bytes (i2cdump) and one byte (i2cget) -> i2c.dump, i2c.get20
#   i2ctransfer      a combined write-read (one transaction, repeated START) of 8 bytes at 0x30 -> i2c.xfer
#   i2cset           0x5a at 0x10 of the 24C02, read back (the host finds it in the file)
#   at24             new_device 24c32 0x51: /sys/.../eeprom's 4096 bytes (md5), then 64 random bytes written at 100
#   lm75             new_device lm75 0x48: hwmon's temp1_input follows what the host sets (GUEST-I2C-TEMP N asks for
#                    N m°C; the guest waits for it)
. /tests/lib.sh
hex() { od -An -v -tx1 | tr -d ' \n'; }
out=$(i2cdetect -l 2>&1); echo "i2cdetect -l: $out"
bus=$(echo "$out" | grep -i virtio | head -n 1 | cut -f1 | sed 's/i2c-//')
[ -n "$bus" ] || die "no virtio i2c adapter in i2cdetect -l"
val i2c.detect "$(i2cdetect -y -q "$bus" | tail -n +2 | cut -c5- | tr -s ' ' '\n' | grep -v -e '^--$' -e '^$' | tr '\n' ',')"
val i2c.dump "$(i2cdump -y "$bus" 0x50 b | tail -n +2 | cut -c5-52 | tr -d ' \n')"
val i2c.get20 "$(i2cget -y "$bus" 0x50 0x20)"
val i2c.xfer "$(i2ctransfer -y "$bus" w1@0x50 0x30 r8 | tr -d ' ')"
i2cset -y "$bus" 0x50 0x10 0x5a || die "i2cset failed"
val i2c.set "$(i2cget -y "$bus" 0x50 0x10)"
echo 24c32 0x51 > /sys/bus/i2c/devices/i2c-$bus/new_device || die "new_device 24c32"
ee=/sys/bus/i2c/devices/$bus-0051/eeprom
i=0; while [ ! -e "$ee" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
[ -e "$ee" ] || die "at24 did not bind 0x51: $(dmesg | tail -3)"
val i2c.at24.size "$(wc -c < "$ee")"
val i2c.at24.md5 "$(md5 < "$ee")"
dd if=/dev/urandom of=/tmp/w bs=64 count=1 2>/dev/null
dd if=/tmp/w of="$ee" bs=1 seek=100 conv=notrunc 2>/dev/null || die "writing the at24 eeprom failed"
val i2c.at24.write "$(md5 < /tmp/w)"
[ "$(dd if="$ee" bs=1 skip=100 count=64 2>/dev/null | md5)" = "$(md5 < /tmp/w)" ] || die "at24: read back differs"
echo lm75 0x48 > /sys/bus/i2c/devices/i2c-$bus/new_device || die "new_device lm75"
t=""; i=0
while [ -z "$t" ] && [ $i -lt 600 ]; do for h in /sys/class/hwmon/hwmon*; do [ "$(cat $h/name 2>/dev/null)" = lm75 ] && t=$h/temp1_input; done; sleep 0.1; i=$((i + 1)); done
[ -n "$t" ] || die "lm75 did not bind 0x48"
for want in 42500 -12500; do
  echo "GUEST-I2C-TEMP $want"
  i=0; while [ "$(cat $t)" != "$want" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
  [ "$(cat $t)" = "$want" ] || die "lm75 reads $(cat $t), the host set $want"
  val i2c.temp.$want "$(cat $t)"
done
val i2c.done 1
