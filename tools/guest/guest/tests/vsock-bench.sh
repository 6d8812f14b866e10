# The guest side of `pnpm bench vsock` (tools/bench/src/vsock.mjs): socat moving bytes in 64 KiB reads and writes
# over two vsock transports in the same boot, timed on the guest's clock around the guest's own transfer:
#   vmv        vmw_vsock_virtio_transport to vmv-vhost-user-vsock; the host end is the bench (hybrid socket): it
#              sinks what arrives on <uds>_5000 and sends vb.bytes= (port 5001) or vb.bytes/vb.conns (port 5002)
#              to each guest connection, then closes
#   loopback   vsock_loopback (CID 1): the other end is a second guest socat, started before the clock starts
# Cases: h2g (the connecting guest socat receives) and g2h (it sends, and waits for the far end to close: all was
# read), over 1 connection and over vb.conns at once (vb.bytes in all, split evenly); each case runs on both paths back to back. Round 0 is a warm-up whose
# receiving guest socats count their bytes through wc -c (GUEST-VALUE vb.count.*); rounds 1..vb.rounds are timed.
# Each case is framed by "VBENCH-BEGIN <path> <case> <round>" (then 0.2 s idle: the host reads the daemon's CPU
# time) and "VBENCH-END <path> <case> <round> <t0> <t1>" (/proc/uptime). Then per round "VBENCH-LAT <round>": the
# guest echoes 1-byte messages on vmv port 6200 (socat PIPE) and relays vmv port 6201 to a loopback echo on port
# 7300; it waits until the host, which times the round trips, has closed both.
. /tests/lib.sh
set -o pipefail
n=$(arg vb.bytes 67108864); conns=$(arg vb.conns 8); rounds=$(arg vb.rounds 3); bs=65536
each=$((n / conns))
i=0; while [ ! -e /dev/vsock ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
[ -e /dev/vsock ] || die "no /dev/vsock"
grep -q vsock_loopback /proc/modules || die "vsock_loopback is not loaded"
count=0

# recv ADDR TAG: ADDR's bytes to /dev/null (warm-up: through wc -c, the count printed as vb.count.TAG)
recv() {
  if [ "$count" = 1 ]; then
    socat -u -b $bs "$1" - | wc -c > "/tmp/cnt.$2" || return 1
    val "vb.count.$2" "$(cat "/tmp/cnt.$2")"
  else
    socat -u -b $bs "$1" OPEN:/dev/null
  fi
}
# send BYTES ADDR: BYTES zeros to ADDR; returns once the far end has closed (it read to EOF)
send() { socat -b $bs -t 60 OPEN:/dev/zero,readbytes="$1" "$2"; }
# many K CMD...: CMD run K times at once, the connection's number (1..K) its last argument; all must succeed
many() {
  k=$1; shift; pids=""; j=1
  while [ $j -le "$k" ]; do "$@" $j & pids="$pids $!"; j=$((j + 1)); done
  rc=0; for p in $pids; do wait "$p" || rc=1; done; return $rc
}
# timed PATH CASE ROUND CMD...: CMD framed by the BEGIN/END lines
timed() {
  echo "VBENCH-BEGIN $1 $2 $3"; sleep 0.2
  tag="$1 $2 $3"; shift 3
  read -r t0 _ < /proc/uptime
  "$@" || die "$tag: socat failed"
  read -r t1 _ < /proc/uptime
  echo "VBENCH-END $tag $t0 $t1"
}

# the cases; the last argument is the connection's number (1..K): in tags and loopback ports
vmv_h2g1() { recv VSOCK-CONNECT:2:5001 "vmv.h2g1.$1"; }
vmv_h2g8() { recv VSOCK-CONNECT:2:5002 "vmv.h2g8.$1"; }
vmv_g2h1() { send "$n" VSOCK-CONNECT:2:5000; }
vmv_g2h8() { send "$each" VSOCK-CONNECT:2:5000; }
lo_h2g() { recv VSOCK-CONNECT:1:$((7100 + $2)) "lo.h2g$1.$2"; }
lo_g2h() { send "$1" VSOCK-CONNECT:1:$((7000 + $2)); }
# the loopback far ends, listening before the clock starts: senders for h2g, receivers (counting in the warm-up) for g2h
lo_far() {
  shape=$1; k=$2; bytes=$3; far=""; j=1
  while [ $j -le "$k" ]; do
    if [ "$shape" = h2g ]; then socat -u -b $bs OPEN:/dev/zero,readbytes="$bytes" VSOCK-LISTEN:$((7100 + j)) &
    else recv VSOCK-LISTEN:$((7000 + j)) "lo.g2h$k.$j" & fi
    far="$far $!"; j=$((j + 1))
  done
  sleep 0.3
}
lo_wait() { for p in $far; do wait "$p" || die "loopback: a far-end socat failed"; done; }

# one case on one path: PATH CASE ROUND
run() {
  case "$1 $2" in
    "vmv h2g1") timed vmv h2g1 "$3" vmv_h2g1 1 ;;
    "vmv h2g8") timed vmv h2g8 "$3" many "$conns" vmv_h2g8 ;;
    "vmv g2h1") timed vmv g2h1 "$3" vmv_g2h1 1 ;;
    "vmv g2h8") timed vmv g2h8 "$3" many "$conns" vmv_g2h8 ;;
    "lo h2g1") lo_far h2g 1 "$n"; timed loopback h2g1 "$3" lo_h2g 1 1; lo_wait ;;
    "lo h2g8") lo_far h2g "$conns" "$each"; timed loopback h2g8 "$3" many "$conns" lo_h2g "$conns"; lo_wait ;;
    "lo g2h1") lo_far g2h 1; timed loopback g2h1 "$3" lo_g2h "$n" 1; lo_wait ;;
    "lo g2h8") lo_far g2h "$conns"; timed loopback g2h8 "$3" many "$conns" lo_g2h "$each"; lo_wait ;;
  esac
}

r=0
while [ $r -le "$rounds" ]; do
  [ $r -eq 0 ] && count=1 || count=0
  # each case on both paths back to back (the pair seconds apart), vmv first in odd rounds, loopback in even ones
  for c in h2g1 h2g8 g2h1 g2h8; do
    for path in $([ $((r % 2)) -eq 1 ] && echo "vmv lo" || echo "lo vmv"); do run "$path" "$c" "$r"; done
  done
  if [ $r -gt 0 ]; then
    socat VSOCK-LISTEN:7300 PIPE & echo_lo=$!
    socat VSOCK-LISTEN:6200 PIPE & echo_vmv=$!
    socat VSOCK-LISTEN:6201 VSOCK-CONNECT:1:7300 & relay=$!
    sleep 0.3
    echo "VBENCH-LAT $r"
    for p in $echo_vmv $relay $echo_lo; do wait "$p" || die "latency round $r: an echo socat failed"; done
  fi
  r=$((r + 1))
done
val vb.done "$rounds"
