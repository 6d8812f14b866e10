# Soak (pnpm soak, not in CI): soak.secs seconds of mixed I/O on both queues. In the foreground, generations of
# O_DIRECT 4 KiB random writes over [0, soak.mib MiB) at QD32 (two fio jobs pinned to CPUs 0 and 1, 16 deep each,
# fsync every 32 writes), each block carrying "VMV"<generation byte> and its own offset (as kill.sh writes them),
# each generation read back and verified. In the background, on [soak.mib, 2*soak.mib MiB): random reads and
# writes (libaio, 8 deep each, fdatasync every 16 writes) and random 64 KiB discards, for the whole run. Any I/O
# error (fio's status, the kernel log), a block of the wrong generation, or a device that offers no discard fails.
# The host samples the daemon's RSS and open fds every second between GUEST-SOAK start and end, and checks the
# image holds the last generation. GUEST-VALUE soak-gens, soak-last-gen, soak-mix (fio's read/write/trim lines).
. /tests/lib.sh
DEV=$(arg blk.dev /dev/vda); wait_dev "$DEV"
SECS=$(arg soak.secs 600); MIB=$(arg soak.mib 32)
command -v fio >/dev/null || die "fio is not in this initramfs (the soak case boots the fio image)"
name=${DEV#/dev/}
[ "$(cat /sys/block/$name/queue/discard_max_bytes)" -gt 0 ] || die "$DEV offers no discard (the daemon's image must allow hole punching)"
dmesg -c >/dev/null
HALF=$((MIB * 1048576 / 2))
common="--filename=$DEV --bs=4k --direct=1 --ioengine=libaio --iodepth=16 --numjobs=2 --size=$HALF --offset_increment=$HALF \
  --cpus_allowed=0,1 --cpus_allowed_policy=split --group_reporting --verify=pattern --output-format=terse --terse-version=3"
echo "GUEST-SOAK start"
fio --filename="$DEV" --direct=1 --offset=$((MIB * 1048576)) --size=$((MIB * 1048576)) --time_based --runtime="$SECS" \
  --group_reporting --bs=4k \
  --name=reads --rw=randread --ioengine=libaio --iodepth=8 \
  --name=writes --rw=randwrite --ioengine=libaio --iodepth=8 --fdatasync=16 \
  --name=discards --rw=randtrim --ioengine=psync --bs=64k > /tmp/mix 2>&1 &
mix=$!
start=$(date +%s); g=0
while [ $(($(date +%s) - start)) -lt "$SECS" ]; do
  g=$((g + 1)); gen=$(( (g - 1) % 250 + 1 ))
  pat=$(printf '0x564d56%02x%%o' "$gen")
  out=$(fio --name=w$g --rw=randwrite --fsync=32 --do_verify=0 --verify_pattern="$pat" $common 2>&1) \
    || die "generation $g: fio write failed: $(echo "$out" | tail -5)"
  out=$(fio --name=v$g --rw=read --verify_pattern="$pat" $common 2>&1) \
    || die "generation $g: verify failed (a block lost, torn or misplaced): $(echo "$out" | grep -v '^3;' | tail -5)"
done
wait $mix || die "the background mix failed: $(tail -20 /tmp/mix)"
grep -q 'err= 0' /tmp/mix || die "the background mix reported errors: $(grep 'err=' /tmp/mix | head -3)"
for d in read write trim; do
  line=$(grep -m1 "^ *$d: IOPS=" /tmp/mix) || die "the background mix did no $d: $(tail -20 /tmp/mix)"
  val "soak-mix-$d" "$(echo $line | tr -d ' ')"
done
echo "GUEST-SOAK end"
val soak-gens "$g"
val soak-last-gen "$gen"
errs=$(dmesg | grep -iE 'I/O error|blk_update_request|critical (medium|target)|virtio_blk.*(error|fail)')
[ -z "$errs" ] || die "the kernel logged I/O errors: $(echo "$errs" | head -5)"
