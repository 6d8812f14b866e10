# virtio-vsock guest to guest: two guests on one vmv-vhost-user-vsock daemon, in one group (vsock.peer= is the other
# guest's CID). Each listens (port 6000 on the guest of CID 4, 6001 on CID 3) and sends vsock.bytes= random bytes to the
# other's port, retrying while the other is not listening yet; md5s of what was sent, received and answered are
# printed for the host to compare. The guest of CID 3 also tries CID 5, a guest of another group: refused.
. /tests/lib.sh
n=$(arg vsock.bytes 8388608); peer=$(arg vsock.peer 4)
i=0; while [ ! -e /dev/vsock ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
[ -e /dev/vsock ] || die "no /dev/vsock"
if [ "$peer" = 4 ]; then mine=6001; theirs=6000; else mine=6000; theirs=6001; fi
# The receiver answers the md5 of what it got at EOF, and the sender waits for it: a guest's close does not wait for
# its bytes to leave, and each guest powers off at the end. The listener forks: a connect the kernel gave up on (its
# 2 s connect timeout, on a loaded host or while the peer guest still boots) can still reach the peer's listener and
# be reset there; such a connection brings fewer than n bytes and is not the one counted.
printf '#!/bin/sh\ncat > /tmp/in.$$\nif [ "$(wc -c < /tmp/in.$$)" = %s ]; then md5sum < /tmp/in.$$ | cut -d" " -f1 > /tmp/got.tmp && mv /tmp/got.tmp /tmp/got.md5; cat /tmp/got.md5; fi\nrm -f /tmp/in.$$\n' "$n" > /tmp/answer.sh
chmod +x /tmp/answer.sh
socat -t 60 VSOCK-LISTEN:$mine,fork EXEC:/tmp/answer.sh &
got=$!
head -c "$n" /dev/urandom > /tmp/out
val vsock.sent "$(md5 < /tmp/out)"
socat -t 60 - VSOCK-CONNECT:$peer:$theirs,retry=1500,interval=0.2 < /tmp/out > /tmp/reply || die "to the peer guest: socat failed"
val vsock.reply "$(cat /tmp/reply)"
i=0; while [ ! -s /tmp/got.md5 ] && [ $i -lt 2400 ]; do sleep 0.1; i=$((i+1)); done
kill $got 2>/dev/null
[ -s /tmp/got.md5 ] || die "nothing whole from the peer guest"
val vsock.got "$(cat /tmp/got.md5)"
if [ "$peer" = 4 ]; then
  if socat -u OPEN:/dev/null VSOCK-CONNECT:5:6000 2> /tmp/other; then die "a guest of another group was reached"; fi
  val vsock.other "$(grep -o 'Connection reset by peer' /tmp/other | head -1 | tr ' ' _)"
fi
