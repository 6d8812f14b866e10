# Backend crash and restart under a write-heavy load: generations of O_DIRECT 4 KiB random writes over the first
# kill.mib MiB of the disk (two fio jobs pinned to CPUs 0 and 1, so both queues, 16 deep each: QD32; fsync every
# 32 writes), each block carrying "VMV"<generation byte> and its own offset (fio verify_pattern ...%o, 12 bytes
# repeated), then a read pass checking every block holds this generation. The host SIGKILLs and restarts the
# daemon at random moments after each GUEST-KILL-PHASE line; QEMU reconnects and resubmits what was in flight. Any
# I/O error (fio's status, the kernel log) or a block of the wrong generation, offset or torn fails the test.
# The host's remaining kills happen after the last generation (the guest polls the last block until the host
# writes VMVKILL-DONE there). The frontend case: the host SIGKILLs QEMU during a generation's writes and boots a
# new one on the same daemon with kill.after=K (generations up to K were complete): the guest checks every block holds a
# generation K..kill.gens (the host checks the image the same way, then writes VMVKILL-DONE), then writes and
# verifies generation kill.gens+1. cmdline: kill.mib=N (default 16) kill.gens=N (default 5). GUEST-VALUE kill-gens, kill-mib; the host then checks
# the image file for generation kill.gens.
. /tests/lib.sh
DEV=$(arg blk.dev /dev/vda); wait_dev "$DEV"
MIB=$(arg kill.mib 16); GENS=$(arg kill.gens 5)
command -v fio >/dev/null || die "fio is not in this initramfs (the kill case boots the fio image)"
HALF=$((MIB * 1048576 / 2))
val kill-mib "$MIB"
dmesg -c >/dev/null
# wait_done: until the host wrote VMVKILL-DONE into the last block (the host's go-ahead)
SZ=$(blockdev --getsize64 "$DEV")
wait_done() {
  i=0
  until dd if="$DEV" bs=4096 skip=$((SZ / 4096 - 1)) count=1 iflag=direct 2>/dev/null | head -c 12 | grep -q VMVKILL-DONE; do
    i=$((i + 1)); [ $i -lt 1200 ] || die "the host did not write VMVKILL-DONE within 120 s"; sleep 0.1
  done
}
common="--filename=$DEV --bs=4k --direct=1 --ioengine=libaio --iodepth=16 --numjobs=2 --size=$HALF --offset_increment=$HALF \
  --cpus_allowed=0,1 --cpus_allowed_policy=split --group_reporting --verify=pattern --output-format=terse --terse-version=3"
g=1
AFTER=$(arg kill.after)
if [ -n "$AFTER" ]; then
  # a new QEMU after the first was SIGKILLed with generations 1..AFTER complete: every block must hold one of the
  # generations AFTER..GENS (later ones only partly written), whole, at its own offset. A block is bad when every
  # candidate generation's verify fails on it.
  echo "kill: a new frontend; blocks must hold generation $AFTER..$GENS"
  c=$AFTER; n=0; : > /tmp/bad.all
  while [ "$c" -le "$GENS" ]; do
    pat=$(printf '0x564d56%02x%%o' "$c")
    fio --name=c$c --rw=read --verify_pattern="$pat" --continue_on_error=verify $common > /tmp/check.$c 2>&1 \
      || die "generation $c check: fio failed: $(tail -5 /tmp/check.$c)"
    # every block read (terse v3 field 6: KiB read), so that no failure went unreported
    kib=$(awk -F';' '/^3;/ { print $6 }' /tmp/check.$c)
    [ "$kib" = $((MIB * 1024)) ] || die "generation $c check: fio read $kib KiB, not $((MIB * 1024)): $(tail -5 /tmp/check.$c)"
    grep -o 'verify failed at file [^ ]* offset [0-9]*' /tmp/check.$c | awk '{ print $NF }' | sort -u > /tmp/bad.$c
    echo "kill: $(wc -l < /tmp/bad.$c) blocks are not generation $c"
    cat /tmp/bad.$c >> /tmp/bad.all
    c=$((c + 1)); n=$((n + 1))
  done
  bad=$(sort /tmp/bad.all | uniq -c | awk -v n=$n '$1 == n { print $2 }')
  [ -z "$bad" ] || die "blocks holding none of generations $AFTER..$GENS (lost or torn): $(echo $bad | head -c 300)"
  echo "GUEST-KILL-PHASE checked $AFTER"
  wait_done
  g=$((GENS + 1)); GENS=$g
fi
while [ "$g" -le "$GENS" ]; do
  pat=$(printf '0x564d56%02x%%o' "$g")
  echo "GUEST-KILL-PHASE write $g"
  out=$(fio --name=w$g --rw=randwrite --fsync=32 --do_verify=0 --verify_pattern="$pat" $common 2>&1) \
    || die "generation $g: fio write failed: $(echo "$out" | tail -5)"
  echo "GUEST-KILL-PHASE verify $g"
  out=$(fio --name=v$g --rw=read --verify_pattern="$pat" $common 2>&1) \
    || die "generation $g: verify failed (a block lost, torn or misplaced): $(echo "$out" | grep -v '^3;' | tail -5)"
  echo "kill: generation $g written and verified"
  g=$((g + 1))
done
echo "GUEST-KILL-PHASE end $GENS"
val kill-gens "$GENS"
# the host makes its remaining kills, then writes VMVKILL-DONE into the last block: from then on the daemon stays up
wait_done
errs=$(dmesg | grep -iE 'I/O error|blk_update_request|critical (medium|target)|virtio_blk.*(error|fail)')
[ -z "$errs" ] || die "the kernel logged I/O errors: $(echo "$errs" | head -5)"
