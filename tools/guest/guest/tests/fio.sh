# fio on the block device: 4k randread and 1M sequential read, direct=1, iodepth 1 and 32, 1 s ramp.
# cmdline: fio.dev=/dev/vda fio.rt=SECONDS fio.engine=libaio|io_uring fio.jobs=randread4k/qd1,...
# Prints "GUEST-FIO case=<case> iops=N bw_kibps=N lat_mean_us=N irqs=N" per job (irqs: virtio interrupts taken
# during the job, ramp included), and "GUEST-VALUE fio.limits ..." (the block queue limits the device led to).
. /tests/lib.sh
DEV=$(arg fio.dev /dev/vda); RT=$(arg fio.rt 10); ENG=$(arg fio.engine libaio)
JOBS=$(arg fio.jobs randread4k/qd1,randread4k/qd32,seqread1m/qd1,seqread1m/qd32)
wait_dev "$DEV"
command -v fio >/dev/null || die "fio is not in this initramfs (use the fio image)"
echo "fio $(fio --version) dev=$DEV size=$(blockdev --getsize64 "$DEV") rt=$RT engine=$ENG nproc=$(nproc)"
# what the device made the guest's block layer do (request splitting) and the negotiated feature bits
q=/sys/block/${DEV#/dev/}/queue
val fio.limits "max_segments=$(cat $q/max_segments) max_segment_size=$(cat $q/max_segment_size) max_sectors_kb=$(cat $q/max_sectors_kb) features=$(cat /sys/block/${DEV#/dev/}/device/features 2>/dev/null)"
# interrupts taken by the virtio device(s) so far (summed over CPUs)
irqs() { awk '/virtio/ { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i } END { print n + 0 }' /proc/interrupts; }
rc=0
for job in $(echo "$JOBS" | tr ',' ' '); do
  case $job in
    randread4k/qd*) rw=randread; bs=4k;;
    seqread1m/qd*) rw=read; bs=1M;;
    *) echo "unknown fio job $job"; rc=1; continue;;
  esac
  qd=${job#*/qd}
  i0=$(irqs)
  out=$(fio --name=j --filename="$DEV" --rw=$rw --bs=$bs --iodepth="$qd" --ioengine="$ENG" --direct=1 \
        --time_based --runtime="$RT" --ramp_time=1 --numjobs=1 --group_reporting \
        --output-format=terse --terse-version=3 2>&1) || { echo "fio failed: $out"; rc=1; continue; }
  i1=$(irqs)
  # terse v3: field 7 = read bandwidth KiB/s, 8 = read IOPS, 40 = read total latency mean (usec)
  echo "$out" | awk -F';' -v c="$job" -v irq=$((i1 - i0)) '/^3;/{printf "GUEST-FIO case=%s iops=%d bw_kibps=%d lat_mean_us=%.1f irqs=%d\n", c, $8, $7, $40, irq}'
done
exit $rc
