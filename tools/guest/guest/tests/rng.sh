# virtio-rng on vmv-vhost-user-rng (packages/vhost-user-rng), through the kernel's hwrng core and virtio_rng.
#   rng.mode=read  read rng.bytes= bytes from /dev/hwrng; report their md5, the md5 of each 4 KiB piece (the host
#                  finds each in the source file, and so every 64-byte read the kernel made in between) and the
#                  seconds the read took; then the hwrng core is switched to "none" (its kthread stops reading)
#   rng.mode=rate  with the daemon at --max-bytes rng.chunk= per --period rng.period-ms=: read 64 bytes at a time
#                  until one read waited more than half a period (the budget ran out and a new period began: the
#                  reads are now in step with the periods), then read rng.periods= x rng.chunk bytes and report the
#                  milliseconds that took. The budgets of that many periods, less the 64 bytes already taken and the
#                  64 virtio_rng keeps posted ahead, fall short by 128 bytes, so the read ends when the next period
#                  begins: after exactly rng.periods= periods plus the guest's own delay (the host compares)
. /tests/lib.sh
mode=$(arg rng.mode read)
cur=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)
echo "rng_current: $cur; available: $(cat /sys/class/misc/hw_random/rng_available 2>/dev/null); quality: $(cat /sys/class/misc/hw_random/rng_quality 2>/dev/null)"
case "$cur" in virtio_rng*) ;; *) die "rng_current is '$cur', not virtio_rng" ;; esac
val rng.current "$cur"
up() { cut -d' ' -f1 /proc/uptime; }
case "$mode" in
  read)
    want=$(arg rng.bytes 1048576)
    t0=$(up)
    head -c "$want" /dev/hwrng > /tmp/rng || die "reading /dev/hwrng failed"
    # at once (a shell builtin): no current hwrng, so the core's kthread stops reading the device
    echo none > /sys/class/misc/hw_random/rng_current 2>/dev/null && val rng.stopped 1
    t1=$(up)
    got=$(wc -c < /tmp/rng)
    [ "$got" -eq "$want" ] || die "read $got bytes of $want"
    val rng.read "$got"
    val rng.md5 "$(md5 < /tmp/rng)"
    i=0
    while [ $i -lt $((want / 4096)) ]; do val "rng.piece.$i" "$(dd if=/tmp/rng bs=4096 skip=$i count=1 2>/dev/null | md5)"; i=$((i + 1)); done
    val rng.seconds "$(awk "BEGIN { print $t1 - $t0 }")"
    ;;
  rate)
    chunk=$(arg rng.chunk 4096); periods=$(arg rng.periods 4); period=$(arg rng.period-ms 1000)
    n=0
    while :; do
      t0=$(up)
      head -c 64 /dev/hwrng > /dev/null || die "reading /dev/hwrng failed"
      t1=$(up)
      [ "$(awk "BEGIN { print (($t1 - $t0) * 1000 > $period / 2) }")" = 1 ] && break
      n=$((n + 1)); [ $n -lt $((chunk / 32 + 64)) ] || die "no read waited for a new period in $n reads of 64 bytes"
    done
    head -c $((chunk * periods)) /dev/hwrng > /tmp/rng || die "reading /dev/hwrng failed"
    t2=$(up)
    got=$(wc -c < /tmp/rng)
    [ "$got" -eq $((chunk * periods)) ] || die "read $got bytes of $((chunk * periods))"
    val rng.rate-bytes "$got"
    val rng.rate-ms "$(awk "BEGIN { printf \"%d\", ($t2 - $t1) * 1000 }")"
    ;;
  *) die "unknown rng.mode $mode" ;;
esac
