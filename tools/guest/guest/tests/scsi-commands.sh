# SCSI commands of vmv-vhost-user-scsi's target asked with Debian's sg3-utils, their raw answers (hex) printed for
# the host to decode field by field (lib/scsi-commands.mjs). Target 0: LUN 0 read-write, LUN 1 read-only.
#   MODE SENSE(10) current, changeable and default values of every page, MODE SENSE(6), LUN 1's (WP), saved values
#   (refused); what sd made of them (cache_type, FUA); MODE SELECT through sd (cache_type "write through", then
#   "write back") with the caching page read back each time; REPORT SUPPORTED OPERATION CODES (all, with timeouts,
#   LUN 1's, single commands); an opcode the target lacks; SYNCHRONIZE CACHE(10/16), one beyond the capacity;
#   UNMAP, WRITE SAME(16) and (10) with UNMAP, WRITE SAME(16) NDOB, WRITE SAME(10) of a pattern, each on a range the
#   host filled (md5 read with O_DIRECT before and after; the host finds holes or the pattern in the image); a
#   LOGICAL UNIT RESET (sg_reset -N -d: virtio_scsi's controlq), then commands and a read of host data.
# cmdline: cmd.NAME=LBA:BLOCKS for unmap ws16u ws10u ndob ws; cmd.read=BYTES (host data at 0, read after the reset)
. /tests/lib.sh
scsi_wait 0 1
d0=$(scsi_lun 0); d1=$(scsi_lun 1)
sd0=/dev/$(ls "$d0/block"); sg0=/dev/$(ls "$d0/scsi_generic"); sg1=/dev/$(ls "$d1/scsi_generic")
wait_dev "$sd0"
cd0=/sys/class/scsi_disk/$(basename "$d0")
echo "LUN 0: $sd0 $sg0 ($cd0); LUN 1: $sg1"
# the sense lines sg3-utils print (sense key, additional sense), spaces as _
sense() { echo "$1" | grep -E 'Sense key|Additional sense' | tr '\n' ' ' | tr -s ' ' _; }

# MODE SENSE
for pc in 0 1 2; do val cmd.modes10.$pc "$(sg_modes -r -a -c $pc "$sg0" | hex)"; done
val cmd.modes6 "$(sg_modes -6 -r -a "$sg0" | hex)"
val cmd.modes10.ro "$(sg_modes -r -a "$sg1" | hex)"
# saved values (PC 3) through sg_raw, which prints the sense (sg_modes names no ASC)
out=$(sg_raw -r 4096 "$sg0" 5a 00 ff 00 00 00 00 10 00 00 2>&1); val cmd.modes.saved.rc $?
val cmd.modes.saved "$(sense "$out")"
val cmd.cache-type "$(tr ' ' _ < "$cd0/cache_type")"
val cmd.fua "$(cat "$cd0/FUA")"
# MODE SELECT through sd: it reads the caching page, sets WCE and writes it back, then revalidates (synchronously)
echo "write through" > "$cd0/cache_type" || die "writing cache_type (MODE SELECT) failed: $(dmesg | tail -3)"
val cmd.wt.cache-type "$(tr ' ' _ < "$cd0/cache_type")"
val cmd.wt.caching "$(sg_modes -r -p 8 "$sg0" | hex)"
echo "write back" > "$cd0/cache_type" || die "writing cache_type back (MODE SELECT) failed: $(dmesg | tail -3)"
val cmd.wb.cache-type "$(tr ' ' _ < "$cd0/cache_type")"
val cmd.wb.caching "$(sg_modes -r -p 8 "$sg0" | hex)"

# REPORT SUPPORTED OPERATION CODES
val cmd.opcodes "$(sg_opcodes -r "$sg0" | hex)"
val cmd.opcodes.rctd "$(sg_opcodes -r -R "$sg0" | hex)"
val cmd.opcodes.ro "$(sg_opcodes -r "$sg1" | hex)"
for op in 0x28 0x2a 0x42 0x93 0x5e; do val cmd.opcode.$op "$(sg_opcodes -r -o $op "$sg0" | hex)"; done
val cmd.opcode.0x9e-0x10 "$(sg_opcodes -r -o 0x9e,0x10 "$sg0" | hex)"
val cmd.opcode.ro.0x42 "$(sg_opcodes -r -o 0x42 "$sg1" | hex)"
# PERSISTENT RESERVE IN: not a command of the target
out=$(sg_raw -r 64 "$sg0" 5e 00 00 00 00 00 00 00 40 00 2>&1); val cmd.unsupported.rc $?
val cmd.unsupported "$(sense "$out")"

# SYNCHRONIZE CACHE
sg_sync "$sg0"; val cmd.sync10.rc $?
sg_sync -S "$sg0"; val cmd.sync16.rc $?
# SYNCHRONIZE CACHE(10) at LBA 100,000,000 (past the end)
out=$(sg_raw "$sg0" 35 00 05 f5 e1 00 00 00 01 00 2>&1); val cmd.sync.oor.rc $?
val cmd.sync.oor "$(sense "$out")"

# UNMAP and WRITE SAME on ranges the host filled: md5 (O_DIRECT) before and after
head -c 512 /dev/urandom > /tmp/pattern
val cmd.pattern "$(md5 < /tmp/pattern)"
for name in unmap ws16u ws10u ndob ws; do
  r=$(arg cmd.$name ""); [ -n "$r" ] || die "no cmd.$name= on the command line"
  lba=${r%:*}; n=${r#*:}
  val cmd.$name.before "$(rdmd5 "$sd0" $((lba * 512)) $((n * 512)) 65536)"
  case $name in
    unmap) sg_unmap --force --lba=$lba --num=$n "$sg0" ;;
    ws16u) sg_write_same --16 --unmap --lba=$lba --num=$n "$sg0" ;;
    ws10u) sg_write_same --10 --unmap --lba=$lba --num=$n "$sg0" ;;
    ndob) sg_write_same --16 --ndob --unmap --lba=$lba --num=$n "$sg0" ;;
    ws) sg_write_same --10 --in=/tmp/pattern --lba=$lba --num=$n "$sg0" ;;
  esac
  val cmd.$name.rc $?
  val cmd.$name.after "$(rdmd5 "$sd0" $((lba * 512)) $((n * 512)) 65536)"
done

# LOGICAL UNIT RESET: -N, so that a failed LU reset is not turned into a target, bus or host reset
before=$(dmesg | grep -c 'device reset')
sg_reset -N -d "$sg0"; val cmd.reset.rc $?
dmesg | grep 'device reset' | tail -1
val cmd.reset.logged $(($(dmesg | grep -c 'device reset') - before))
# the first command after it may meet the unit attention (if the kernel has not taken it); the next ones may not
out=$(sg_raw "$sg0" 00 00 00 00 00 00 2>&1); val cmd.reset.tur1.rc $?
val cmd.reset.tur1 "$(sense "$out")"
out=$(sg_raw "$sg0" 00 00 00 00 00 00 2>&1); val cmd.reset.tur2.rc $?
val cmd.reset.tur2 "$(sense "$out")"
val cmd.reset.read "$(rdmd5 "$sd0" 0 "$(arg cmd.read 1048576)" 65536)"
val cmd.reset.inq "$(sg_inq -r "$sg0" | hex)"
val cmd.done 1
