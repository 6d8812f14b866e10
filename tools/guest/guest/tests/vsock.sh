# virtio-vsock on vmv-vhost-user-vsock (packages/vhost-user-vsock) behind QEMU's vhost-user-vsock-pci, through the
# kernel's vmw_vsock_virtio_transport and Debian's socat. The host (lib/vsock.mjs) listens on <uds>_5000, _5100
# and _5200 before boot and connects through <uds> (CONNECT 6000) when the guest says VSOCK-READY.
#   guest to host   vsock.bytes= random bytes to host port 5000 (md5 printed; the host, reading with stalls, answers the
#                   md5 of what it got at EOF, which the guest waits for: a guest's close does not wait for its
#                   bytes to leave, and the guest powers off at the end)
#   host to guest   the guest listens on port 6000 and reads with stalls at random; the host sends vsock.bytes= bytes;
#                   md5 and count printed
#   many at once    vsock.conns= connections to host port 5100 at once, vsock.each= bytes each (md5s printed, compared as a
#                   set; each answered with the host's md5 at EOF, as above)
#   half-close      64 KiB to host port 5200, then SHUTDOWN of the guest's sending side only: the host reads to
#                   EOF and answers with the md5 of what it read, which the guest still receives
#   refused         a connection to host port 7, where nobody listens: refused at once (connection reset)
. /tests/lib.sh
n=$(arg vsock.bytes 8388608); conns=$(arg vsock.conns 8); each=$(arg vsock.each 1048576)
i=0; while [ ! -e /dev/vsock ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
[ -e /dev/vsock ] || die "no /dev/vsock"
# stall_copy: stdin to stdout in 1 MiB pieces, stopping up to 0.4 s after one piece in four: a reader stalled at random
stall_copy() {
  while :; do
    dd bs=1048576 count=1 iflag=fullblock 2>/tmp/stall.err || return 1
    grep -q '^0+0 records in' /tmp/stall.err && return 0
    [ $((RANDOM % 4)) -eq 0 ] && sleep 0.$((RANDOM % 5))
  done
}
# the streams are md5-summed on the way (no copy kept): a fifo feeds md5 what tee passes on
mkfifo /tmp/up.fifo /tmp/down.fifo
md5 < /tmp/up.fifo > /tmp/up.md5 &
sum=$!
head -c "$n" /dev/urandom | tee /tmp/up.fifo | socat -t 60 - VSOCK-CONNECT:2:5000 > /tmp/up.reply || die "guest to host: socat failed"
wait $sum
val vsock.up "$(cat /tmp/up.md5)"
val vsock.up.reply "$(cat /tmp/up.reply)"
wc -c < /tmp/down.fifo > /tmp/down.bytes &
count=$!
( socat -u VSOCK-LISTEN:6000 - | stall_copy | tee /tmp/down.fifo | md5 > /tmp/down.md5 ) &
down=$!
sleep 0.2
echo "VSOCK-READY 6000"
wait $down || die "host to guest: socat failed"
wait $count
val vsock.down "$(cat /tmp/down.md5)"
val vsock.down.bytes "$(cat /tmp/down.bytes)"
pids=""; k=1
while [ $k -le "$conns" ]; do
  head -c "$each" /dev/urandom > /tmp/many.$k
  val "vsock.many.$k" "$(md5 < /tmp/many.$k)"
  socat -t 60 - VSOCK-CONNECT:2:5100 < /tmp/many.$k > /tmp/many.$k.reply &
  pids="$pids $!"; k=$((k + 1))
done
for p in $pids; do wait "$p" || die "many at once: a socat failed"; done
k=1; while [ $k -le "$conns" ]; do val "vsock.many.$k.reply" "$(cat /tmp/many.$k.reply)"; k=$((k + 1)); done
head -c 65536 /dev/urandom > /tmp/half
val vsock.half "$(md5 < /tmp/half)"
socat -t 60 - VSOCK-CONNECT:2:5200 < /tmp/half > /tmp/half.reply || die "half-close: socat failed"
val vsock.half.reply "$(cat /tmp/half.reply)"
t0=$(cut -d' ' -f1 /proc/uptime)
if socat -u OPEN:/dev/null VSOCK-CONNECT:2:7 2> /tmp/refused; then die "a connection to port 7 was accepted"; fi
t1=$(cut -d' ' -f1 /proc/uptime)
val vsock.refused "$(grep -o 'Connection reset by peer' /tmp/refused | head -1 | tr ' ' _)"
val vsock.refused.ms "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%d", (b-a)*1000}')"
