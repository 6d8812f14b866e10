# virtio-vsock guest to guest: two guests on one vmv-vhost-user-vsock daemon, in one group (vsock.peer= is the other
# guest's CID). Each listens (port 6000 on the guest of CID 4, 6001 on CID 3) and sends vsock.bytes= random bytes to the
# other's port, retrying while the other is not listening yet; md5s of what was sent and received are printed for the
# host to compare. The guest of CID 3 also tries CID 5, a guest of another group: refused.
. /tests/lib.sh
n=$(arg vsock.bytes 8388608); peer=$(arg vsock.peer 4)
i=0; while [ ! -e /dev/vsock ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
[ -e /dev/vsock ] || die "no /dev/vsock"
if [ "$peer" = 4 ]; then mine=6001; theirs=6000; else mine=6000; theirs=6001; fi
socat -u VSOCK-LISTEN:$mine - | md5 > /tmp/got.md5 &
got=$!
head -c "$n" /dev/urandom > /tmp/out
val vsock.sent "$(md5 < /tmp/out)"
socat -u OPEN:/tmp/out VSOCK-CONNECT:$peer:$theirs,retry=600,interval=0.2 || die "to the peer guest: socat failed"
wait $got || die "from the peer guest: socat failed"
val vsock.got "$(cat /tmp/got.md5)"
if [ "$peer" = 4 ]; then
  if socat -u OPEN:/dev/null VSOCK-CONNECT:5:6000 2> /tmp/other; then die "a guest of another group was reached"; fi
  val vsock.other "$(grep -o 'Connection reset by peer' /tmp/other | head -1 | tr ' ' _)"
fi
