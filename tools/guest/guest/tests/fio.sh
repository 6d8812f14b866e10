# fio on block devices: 4k randread, 1M sequential read and 1M sequential write, direct=1, iodepth 1 and 32, 1 s ramp.
# cmdline: fio.dev=/dev/vda fio.rt=SECONDS fio.engine=libaio|io_uring fio.jobs=randread4k/qd1,...
#          (jobs: randread4k/qdN, seqread1m/qdN, seqwrite1m/qdN; a write stays clear of the disk's last MiB)
#          fio.devs=marked fio.want=N fio.slices=N  (A/B mode, below)
#          fio.cpu=N fio.irqcpu=N  (fio runs on CPU fio.cpu, default 1, and every measured disk's interrupts go to
#          CPU fio.irqcpu, default 0; "any" leaves either to the scheduler. Unpinned, the figures at QD32 fall into two
#          groups some 40 % apart depending on where fio lands relative to the interrupt, a guest artifact that
#          swamps any difference between backends. fio.cpu=irq runs fio, for each disk, on the vCPU its last interrupt
#          vector (its request queue's, with one queue) is delivered to: managed interrupts, which virtio_scsi's and
#          virtio_blk's queue vectors are, cannot be moved, and the kernel may place two disks' on different vCPUs.)
# Prints "GUEST-FIO case=<case> disk=<name> slice=<n> iops=N bw_kibps=N lat_mean_us=N irqs=N" per run (irqs: the
# disk's virtio interrupts during the run, ramp included), and "GUEST-VALUE fio.limits.<name> ..." (the block queue
# limits the device led to, the negotiated feature bits, where its interrupts go, the scheduler and rotational).
# A/B mode (fio.devs=marked): every /dev/vd? or /dev/sd? (virtio-blk or virtio-scsi) whose last 4 KiB start with "VMVBENCH <name>" (written by the host) is
# measured, named <name> (after waiting up to 5 s for fio.want of them); each job runs fio.slices times on each disk, alternating which disk goes first, so that
# the disks share the guest, the boot and the host's load alike.
. /tests/lib.sh
RT=$(arg fio.rt 10); ENG=$(arg fio.engine libaio); SLICES=$(arg fio.slices 1)
JOBS=$(arg fio.jobs randread4k/qd1,randread4k/qd32,seqread1m/qd1,seqread1m/qd32)
command -v fio >/dev/null || die "fio is not in this initramfs (use the fio image)"
if [ "$(arg fio.devs)" = marked ]; then
  WANT=$(arg fio.want 1); tries=0
  while :; do
    DISKS=""; n=0
    for d in /dev/vd? /dev/sd?; do
      [ -b "$d" ] || continue
      sz=$(blockdev --getsize64 "$d")
      name=$(dd if="$d" bs=4096 skip=$((sz / 4096 - 1)) count=1 iflag=direct 2>/dev/null | head -c 64 | tr -d '\000' | awk '$1 == "VMVBENCH" { print $2; exit }')
      [ -n "$name" ] && { DISKS="$DISKS $name=$d"; n=$((n + 1)); }
    done
    [ $n -ge "$WANT" ] && break
    tries=$((tries + 1)); [ $tries -ge 200 ] && die "fio.devs=marked: found $n of $WANT marked disks:$DISKS"
    sleep 0.1
  done
else
  d=$(arg fio.dev /dev/vda)
  wait_dev "$d"
  DISKS="${d#/dev/}=$d"
fi
# interrupts of one virtio device (virtioN, or virtioN-<vector> with MSI-X), summed over CPUs; irqnums: their numbers
irqs() { awk -v v="$1" '{ n = $NF; if (n == v || index(n, v "-") == 1) for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i } END { print s + 0 }' /proc/interrupts; }
irqnums() { awk -v v="$1" '{ n = $NF; if (n == v || index(n, v "-") == 1) { sub(":", "", $1); print $1 } }' /proc/interrupts; }
# the virtio device under a disk: its own device for virtio-blk, an ancestor of the SCSI device for virtio-scsi
vdevof() { readlink -f "/sys/block/${1#/dev/}/device" | tr '/' '\n' | grep '^virtio[0-9]*$' | tail -n 1; }
FIOCPU=$(arg fio.cpu 1); IRQCPU=$(arg fio.irqcpu 0); NCPU=$(nproc); PIN=""
[ "$FIOCPU" != any ] && [ "$FIOCPU" != irq ] && [ "$FIOCPU" -lt "$NCPU" ] && PIN="--cpus_allowed=$FIOCPU"
if [ "$IRQCPU" != any ] && [ "$IRQCPU" -lt "$NCPU" ]; then
  for nd in $DISKS; do
    for n in $(irqnums "$(vdevof "${nd#*=}")"); do echo "$IRQCPU" > /proc/irq/$n/smp_affinity_list 2>/dev/null || echo "cannot pin irq $n"; done
  done
else IRQCPU=any; fi
echo "fio $(fio --version) disks:$DISKS rt=$RT engine=$ENG slices=$SLICES nproc=$NCPU fio-cpu=${PIN:+$FIOCPU} irq-cpu=$IRQCPU"
for nd in $DISKS; do
  name=${nd%%=*}; dev=${nd#*=}; b=${dev#/dev/}; q=/sys/block/$b/queue
  vd=$(vdevof "$dev")
  # where its interrupts really go (a managed interrupt cannot be moved), per vector: irq:cpus
  where=$(for n in $(irqnums "$vd"); do printf '%s:%s,' "$n" "$(cat /proc/irq/$n/effective_affinity_list 2>/dev/null)"; done)
  val "fio.limits.$name" "dev=$dev max_segments=$(cat $q/max_segments) max_segment_size=$(cat $q/max_segment_size) max_sectors_kb=$(cat $q/max_sectors_kb) features=$(cat /sys/bus/virtio/devices/$vd/features 2>/dev/null) irqs=$where scheduler=$(cat $q/scheduler) rotational=$(cat $q/rotational)"
done
rc=0
for job in $(echo "$JOBS" | tr ',' ' '); do
  case $job in
    randread4k/qd*) rw=randread; bs=4k;;
    seqread1m/qd*) rw=read; bs=1M;;
    seqwrite1m/qd*) rw=write; bs=1M;;
    *) echo "unknown fio job $job"; rc=1; continue;;
  esac
  qd=${job#*/qd}
  s=1
  while [ $s -le "$SLICES" ]; do
    order=$DISKS
    [ $((s % 2)) -eq 0 ] && order=$(echo $DISKS | tr ' ' '\n' | sed -n '1!G;h;$p' | tr '\n' ' ')
    for nd in $order; do
      name=${nd%%=*}; dev=${nd#*=}
      vdev=$(vdevof "$dev")
      if [ "$FIOCPU" = irq ]; then
        last=$(irqnums "$vdev" | tail -n 1)
        PIN="--cpus_allowed=$(cut -d, -f1 /proc/irq/$last/effective_affinity_list | cut -d- -f1)"
      fi
      # a write keeps off the last MiB (the marker a later boot looks for)
      SZ=""; [ $rw = write ] && SZ="--size=$(( $(blockdev --getsize64 "$dev") / 1048576 - 1 ))M"
      i0=$(irqs "$vdev")
      out=$(fio --name=j --filename="$dev" --rw=$rw --bs=$bs --iodepth="$qd" --ioengine="$ENG" --direct=1 $SZ \
            --time_based --runtime="$RT" --ramp_time=1 --numjobs=1 --group_reporting $PIN \
            --output-format=terse --terse-version=3 2>&1) || { echo "fio failed on $dev: $out"; rc=1; continue; }
      i1=$(irqs "$vdev")
      # terse v3: field 7 = read bandwidth KiB/s, 8 = read IOPS, 40 = read total latency mean (usec); 48, 49, 81 the same for writes
      echo "$out" | awk -F';' -v c="$job" -v n="$name" -v s=$s -v irq=$((i1 - i0)) -v w=$([ $rw = write ] && echo 41 || echo 0) \
        -v cpu="${PIN#--cpus_allowed=}" \
        '/^3;/{printf "GUEST-FIO case=%s disk=%s slice=%d iops=%d bw_kibps=%d lat_mean_us=%.1f irqs=%d cpu=%s\n", c, n, s, $(8 + w), $(7 + w), $(40 + w), irq, (cpu == "" ? "any" : cpu)}'
    done
    s=$((s + 1))
  done
done
exit $rc
