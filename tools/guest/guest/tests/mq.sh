# Multi-queue: /sys/block/vda/mq must have blk.queues entries (default 2). Then one writer pinned to each CPU
# (blk-mq maps each CPU to its own hardware queue) writes its own 4 MiB region with O_DIRECT at the same time:
#   cpu N writes [12M + 4M*N, 16M + 4M*N) -> GUEST-VALUE mq-write-N-md5 (host checks the image file)
# and reads it back. Every hardware queue must have CPUs mapped; with per-queue interrupts (MSI-X on PCI), each
# queue's interrupt count must grow during the writes (I/O really used every queue).
. /tests/lib.sh
DEV=$(arg blk.dev /dev/vda); wait_dev "$DEV"; Q=$(arg blk.queues 2)
n=$(ls -1 /sys/block/vda/mq | wc -l)
echo "mq: $(ls /sys/block/vda/mq | tr '\n' ' ') cpus=$(nproc)"
val mq-count "$n"
[ "$n" = "$Q" ] || die "/sys/block/vda/mq has $n entries, expected $Q"
cpus=$(nproc); [ "$cpus" -gt "$Q" ] && cpus=$Q
for h in /sys/block/vda/mq/*; do
  cl=$(cat "$h/cpu_list"); echo "mq: hctx $(basename "$h") cpu_list=$cl nr_tags=$(cat "$h/nr_tags" 2>/dev/null)"
  [ -n "$cl" ] || die "hardware queue $(basename "$h") has no CPU mapped"
done
# per-queue interrupt counters exist with MSI-X (PCI): "<irq>: <cpu0> <cpu1> ... PCI-MSIX-... virtioN-req.Q"
irqs() { grep -E 'virtio[0-9]+-req\.[0-9]+' /proc/interrupts | awk '{s=0; for(i=2;i<=NF;i++){ if ($i ~ /^[0-9]+$/) s+=$i; else break }; print $NF, s}'; }
irqs > /tmp/irq.before
i=0
while [ $i -lt "$cpus" ]; do
  dd if=/dev/urandom of=/tmp/mq$i bs=1M count=4 2>/dev/null
  i=$((i+1))
done
i=0; pids=
while [ $i -lt "$cpus" ]; do
  taskset $((1 << i)) dd if=/tmp/mq$i of="$DEV" bs=64k seek=$(( (12582912 + 4194304 * i) / 65536 )) count=64 oflag=direct conv=fsync,notrunc 2>/tmp/mq$i.err &
  pids="$pids $!"; i=$((i+1))
done
for p in $pids; do wait "$p" || die "a pinned writer failed: $(cat /tmp/mq*.err)"; done
i=0
while [ $i -lt "$cpus" ]; do
  W=$(md5 < /tmp/mq$i)
  R=$(taskset $((1 << i)) dd if="$DEV" bs=64k skip=$(( (12582912 + 4194304 * i) / 65536 )) count=64 iflag=direct 2>/dev/null | md5)
  val "mq-write-$i-md5" "$W"
  [ "$W" = "$R" ] || die "queue test: readback on cpu $i $R != written $W"
  i=$((i+1))
done
if [ -s /tmp/irq.before ]; then
  irqs > /tmp/irq.after
  while read -r name before; do
    after=$(awk -v n="$name" '$1==n{print $2}' /tmp/irq.after)
    echo "mq: interrupts $name $before -> $after"
    [ "$after" -gt "$before" ] || die "queue interrupt $name did not fire: the queue carried no requests"
  done < /tmp/irq.before
  [ "$(wc -l < /tmp/irq.before)" -ge "$Q" ] || die "expected $Q per-queue interrupts, found $(wc -l < /tmp/irq.before)"
else
  echo "mq: no per-queue interrupts on this transport (virtio-mmio has one); per-queue use shown by the pinned writers only"
fi
