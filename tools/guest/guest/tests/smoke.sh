# The virtio devices the kernel found, the driver bound to each and its status; /dev/vda's driver must be
# virtio_blk with DRIVER_OK set. Prints the negotiated feature bits (bit 0 first) for the host's log.
. /tests/lib.sh
echo "uname: $(uname -r)  cmdline: $GUEST_CMDLINE"
blk=0
for d in /sys/bus/virtio/devices/*; do
  [ -e "$d" ] || continue
  drv=$(basename "$(readlink "$d/driver" 2>/dev/null)" 2>/dev/null)
  st=$(cat "$d/status" 2>/dev/null)
  echo "virtio-dev $(basename "$d") device=$(cat "$d/device") vendor=$(cat "$d/vendor") status=$st driver=${drv:-NONE} parent=$(basename "$(readlink -f "$d/..")")"
  if [ "$drv" = virtio_blk ]; then
    blk=$((blk+1)); val features "$(cat "$d/features")"
    [ $(( st & 4 )) -ne 0 ] || die "virtio_blk device without DRIVER_OK (status $st)"
  fi
done
dmesg | grep -iE "virtio|vda|LNRO" | sed 's/^/dmesg: /'
[ "$blk" -ge 1 ] || die "no device bound to virtio_blk"
