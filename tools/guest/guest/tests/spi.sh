# virtio-spi on vmv-vhost-user-spi (chip select 0: a W25Q32 SPI NOR flash kept in a host file the host filled with
# random bytes; chip select 1: a loopback), through the out-of-tree spi-virtio driver, the kernel's spi-nor and spidev
# drivers, Debian's mtd-utils and spi-tools:
#   spi-nor      new_device spi-nor 0: the part spi-nor found (partname, jedec_id) and /dev/mtd0's type, size and
#                erase size -> spi.nor.*, spi.mtd.*
#   mtd_debug    the whole flash read (md5: the host's bytes) -> spi.read
#   flashcp      100000 random bytes erased, programmed and verified at 0 -> spi.flashcp (md5 of what was written)
#   flash_erase  16 sectors at 1 MiB (md5 of 64 KiB read back: all 0xff), then mtd_debug write of 5000 random bytes
#                there, read back -> spi.erased, spi.write; the whole flash again -> spi.final
#   spidev       new_device spidev 1: spi-pipe full-duplex transfers to the loopback at every mode the config offers
#                (CPHA, CPOL, CS_HIGH, LSB_FIRST, LOOP: 32 combinations) at 8, 13 and 32 bits per word, and at every
#                width 1 to 32 in mode 0; each must read back what was sent (the bits of each word that travel)
#                -> spi.loop.runs. spi-config takes neither widths below 7 nor CS_HIGH and LOOP, so the mode and
#                width are set with the two spidev ioctls from perl (Debian's perl-base, no module).
. /tests/lib.sh
ctl=$(ls /sys/class/spi_master 2>/dev/null | head -n 1)
[ -n "$ctl" ] || die "no SPI controller registered"
bus=${ctl#spi}
echo spi-nor 0 > "/sys/class/spi_master/$ctl/new_device" || die "new_device spi-nor 0 on $ctl refused"
i=0; while [ ! -e /sys/class/mtd/mtd0 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
[ -e /sys/class/mtd/mtd0 ] || die "spi-nor did not bind chip select 0: $(dmesg | grep -i -E 'spi|nor|mtd' | tail -5)"
nor=/sys/bus/spi/devices/$ctl.0/spi-nor
val spi.nor.partname "$(cat $nor/partname 2>/dev/null)"
val spi.nor.jedec "$(cat $nor/jedec_id 2>/dev/null)"
val spi.mtd.type "$(cat /sys/class/mtd/mtd0/type)"
size=$(cat /sys/class/mtd/mtd0/size)
val spi.mtd.size "$size"
val spi.mtd.erasesize "$(cat /sys/class/mtd/mtd0/erasesize)"
i=0; while [ ! -c /dev/mtd0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
mtd_debug read /dev/mtd0 0 "$size" /tmp/all >/dev/null || die "mtd_debug read of the flash failed"
val spi.read "$(md5 < /tmp/all)"
dd if=/dev/urandom of=/tmp/a bs=1000 count=100 2>/dev/null
flashcp /tmp/a /dev/mtd0 || die "flashcp failed"
val spi.flashcp "$(md5 < /tmp/a)"
flash_erase -q /dev/mtd0 0x100000 16 || die "flash_erase failed"
mtd_debug read /dev/mtd0 0x100000 65536 /tmp/e >/dev/null || die "reading the erased sectors failed"
val spi.erased "$(md5 < /tmp/e)"
dd if=/dev/urandom of=/tmp/b bs=1000 count=5 2>/dev/null
mtd_debug write /dev/mtd0 0x100000 5000 /tmp/b >/dev/null || die "mtd_debug write failed"
mtd_debug read /dev/mtd0 0x100000 5000 /tmp/b2 >/dev/null || die "mtd_debug read back failed"
[ "$(md5 < /tmp/b2)" = "$(md5 < /tmp/b)" ] || die "mtd_debug: the bytes read back differ from those written"
val spi.write "$(md5 < /tmp/b)"
mtd_debug read /dev/mtd0 0 "$size" /tmp/all >/dev/null || die "mtd_debug read of the flash failed"
val spi.final "$(md5 < /tmp/all)"

echo spidev 1 > "/sys/class/spi_master/$ctl/new_device" || die "new_device spidev 1 on $ctl refused"
dev=/dev/spidev$bus.1
i=0; while [ ! -c "$dev" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
[ -c "$dev" ] || die "no $dev after new_device"
dd if=/dev/urandom of=/tmp/in bs=64 count=1 2>/dev/null
bytes() { od -An -v -tu1 "$1" | tr -s ' ' '\n' | grep -v '^$'; }
# the bits of each word that travel: words of 1, 2 or 4 bytes, little-endian, the low BPW bits
wire() {
  w=4; [ "$1" -le 16 ] && w=2; [ "$1" -le 8 ] && w=1
  n=0; for v in $(bytes /tmp/in); do b=$(($1 - 8 * (n % w))); [ $b -le 0 ] && v=0; [ $b -gt 0 ] && [ $b -lt 8 ] && v=$((v & ((1 << b) - 1))); echo $v; n=$((n + 1)); done
}
setup() { perl -e 'open(my $f, "<", $ARGV[0]) or die "$ARGV[0]: $!\n"; ioctl($f, 0x40046b05, pack("L", $ARGV[1])) or die "SPI_IOC_WR_MODE32 $ARGV[1]: $!\n"; ioctl($f, 0x40016b03, pack("C", $ARGV[2])) or die "SPI_IOC_WR_BITS_PER_WORD $ARGV[2]: $!\n"' "$dev" "$1" "$2"; }
runs=0
check() {  # MODE BPW (Linux's mode bits: CPHA 1, CPOL 2, CS_HIGH 4, LSB_FIRST 8, LOOP 0x20)
  setup "$1" "$2" || die "setting mode $1, $2 bits per word on $dev failed"
  spi-pipe -d "$dev" -b 64 -n 1 < /tmp/in > /tmp/out || die "spi-pipe in mode $1 at $2 bits per word failed"
  [ "$(bytes /tmp/out)" = "$(wire "$2")" ] || die "mode $1, $2 bits per word: the loopback returned $(bytes /tmp/out | tr '\n' ' ')"
  runs=$((runs + 1))
}
for m in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do for loop in 0 32; do for w in 8 13 32; do check $((m + loop)) $w; done; done; done
w=1; while [ $w -le 32 ]; do check 0 $w; w=$((w + 1)); done
val spi.loop.runs "$runs"
val spi.done 1
