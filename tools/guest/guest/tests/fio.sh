# fio on the block device: 4k randread and 1M sequential read, direct=1, iodepth 1 and 32, 1 s ramp.
# cmdline: fio.dev=/dev/vda fio.rt=SECONDS fio.engine=libaio|io_uring fio.jobs=randread4k/qd1,...
# Prints "GUEST-FIO case=<case> iops=N bw_kibps=N lat_mean_us=N" per job.
. /tests/lib.sh
DEV=$(arg fio.dev /dev/vda); RT=$(arg fio.rt 10); ENG=$(arg fio.engine libaio)
JOBS=$(arg fio.jobs randread4k/qd1,randread4k/qd32,seqread1m/qd1,seqread1m/qd32)
wait_dev "$DEV"
command -v fio >/dev/null || die "fio is not in this initramfs (use the fio image)"
echo "fio $(fio --version) dev=$DEV size=$(blockdev --getsize64 "$DEV") rt=$RT engine=$ENG nproc=$(nproc)"
rc=0
for job in $(echo "$JOBS" | tr ',' ' '); do
  case $job in
    randread4k/qd*) rw=randread; bs=4k;;
    seqread1m/qd*) rw=read; bs=1M;;
    *) echo "unknown fio job $job"; rc=1; continue;;
  esac
  qd=${job#*/qd}
  out=$(fio --name=j --filename="$DEV" --rw=$rw --bs=$bs --iodepth="$qd" --ioengine="$ENG" --direct=1 \
        --time_based --runtime="$RT" --ramp_time=1 --numjobs=1 --group_reporting \
        --output-format=terse --terse-version=3 2>&1) || { echo "fio failed: $out"; rc=1; continue; }
  # terse v3: field 7 = read bandwidth KiB/s, 8 = read IOPS, 40 = read total latency mean (usec)
  echo "$out" | awk -F';' -v c="$job" '/^3;/{printf "GUEST-FIO case=%s iops=%d bw_kibps=%d lat_mean_us=%.1f\n", c, $8, $7, $40}'
done
exit $rc
