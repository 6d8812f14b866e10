# virtio-rng behind our vfio-user function: the hwrng core picks virtio_rng, and rng.bytes= bytes read from
# /dev/hwrng come back (vfu.rng-read), not all alike (vfu.rng-distinct: distinct byte values among them).
. /tests/lib.sh
want=$(arg rng.bytes 65536)
cur=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)
echo "rng_current: $cur; available: $(cat /sys/class/misc/hw_random/rng_available 2>/dev/null)"
case "$cur" in virtio_rng*) ;; *) die "rng_current is '$cur', not virtio_rng" ;; esac
head -c "$want" /dev/hwrng > /tmp/rng || die "reading /dev/hwrng failed"
val vfu.rng-read "$(wc -c < /tmp/rng)"
val vfu.rng-distinct "$(od -An -tu1 -v /tmp/rng | tr -s ' ' '\n' | grep -v '^$' | sort -u | wc -l)"
vdev=$(cat /tmp/vfu-vdev)
val vfu.rng-interrupts "$(grep -E "PCI-MSIX?.*$vdev-" /proc/interrupts | grep -v -- -config | awk '{ s = 0; for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; t += s } END { print t + 0 }')"
