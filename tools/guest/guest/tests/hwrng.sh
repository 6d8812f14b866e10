# virtio-rng on a @vmv test device whose every buffer is filled with one byte: the kernel's hwrng picks it,
# and rng.bytes= bytes read from /dev/hwrng are all that byte (rng.fill=, decimal).
. /tests/lib.sh
want=$(arg rng.bytes 16384); fill=$(arg rng.fill 165)
cur=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)
echo "rng_current: $cur; available: $(cat /sys/class/misc/hw_random/rng_available 2>/dev/null)"
case "$cur" in virtio_rng*) ;; *) die "rng_current is '$cur', not virtio_rng" ;; esac
head -c "$want" /dev/hwrng > /tmp/rng || die "reading /dev/hwrng failed"
got=$(wc -c < /tmp/rng)
[ "$got" -eq "$want" ] || die "read $got bytes of $want"
other=$(tr -d "$(printf '\\%03o' "$fill")" < /tmp/rng | wc -c)
[ "$other" -eq 0 ] || die "$other of $want bytes are not the device's fill byte $fill"
val rng.read "$got"
