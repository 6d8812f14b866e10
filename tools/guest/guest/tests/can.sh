# virtio-can on vmv-vhost-user-can (one socket; the host program on the daemon's frame socket), through the
# out-of-tree virtio_can driver and Debian's can-utils. The guest asks the host for each step with a GUEST-CAN line;
# where it must wait for the host, it waits for a frame (a candump started before the line, so nothing is missed):
#   up        ip link set can0 up (START); GUEST-CAN hello: the host, once it sees the controller started, sends 000#
#   tx        cansend of each frame of can.tx (classic, extended, RTR, CAN FD): the host compares what it got
#   rx        GUEST-CAN listening rx N: the host sends N frames; candump's lines -> can.rx
#   burst-tx  cangen: 10,000 frames, incrementing ids and data (a u64 counter), as fast as the queue takes them
#   burst-rx  GUEST-CAN listening burst N: the host sends N frames as fast as the bus takes them; candump's lines
#             (md5, count, first and last) -> can.burst.*
#   stop      ip link set can0 down (STOP), GUEST-CAN down; up again (START), GUEST-CAN up-again: the host, once it
#             counted both, sends 7E0#0102, which candump must get
. /tests/lib.sh
# listeners: raw CAN sockets bound to can0 (candump registers one receiver; the count tells when it is listening)
listeners() { grep -c '^ *can0 ' /proc/net/can/rcvlist_all 2>/dev/null; }
listen() {  # listen N FILE [candump options]: candump -L -n N in the background into FILE; returns once it listens
  n=$1; f=$2; shift 2
  before=$(listeners)
  candump -L -n "$n" "$@" can0 > "$f" 2>"$f.err" & cdpid=$!
  i=0; while [ "$(listeners)" -le "$before" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
  [ "$(listeners)" -gt "$before" ] || die "candump did not start listening: $(cat "$f.err")"
}
frames() { cut -d' ' -f3 "$1"; }                      # candump -L lines -> the frames (can-utils text)
# echoed N: waits until N frames sent are acknowledged (tx_packets): their local echoes are in, none can reach a
# candump started afterwards
echoed() { i=0; while [ "$(cat /sys/class/net/can0/statistics/tx_packets)" -lt "$1" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
  [ "$(cat /sys/class/net/can0/statistics/tx_packets)" -ge "$1" ] || die "only $(cat /sys/class/net/can0/statistics/tx_packets) of $1 frames acknowledged"; }
i=0; while [ ! -d /sys/class/net/can0 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
[ -d /sys/class/net/can0 ] || die "no can0"
ip link set can0 up || die "ip link set can0 up failed"
i=0; while [ "$(cat /sys/class/net/can0/operstate)" != up ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
val can.up "$(cat /sys/class/net/can0/operstate) mtu=$(cat /sys/class/net/can0/mtu)"
listen 1 /tmp/hello
echo "GUEST-CAN hello"
wait $cdpid || die "candump (hello): $(cat /tmp/hello.err)"
val can.hello "$(frames /tmp/hello)"

sent=0
for f in $(arg can.tx "" | tr ',' ' '); do cansend can0 "$f" || die "cansend $f failed"; sent=$((sent + 1)); done
echoed $sent
n=$(arg can.rx.n 0)
listen "$n" /tmp/rx
echo "GUEST-CAN listening rx $n"
wait $cdpid || die "candump (rx): $(cat /tmp/rx.err)"
val can.rx "$(frames /tmp/rx | tr '\n' ',')"

n=$(arg can.burst 10000)
cangen can0 -I i -D i -L 8 -g 0 -p 1000 -n "$n" || die "cangen failed"
echoed $((sent + n))
val can.burst-tx.packets "$(cat /sys/class/net/can0/statistics/tx_packets)"
echo "GUEST-CAN burst-tx $n"
listen "$n" /tmp/burst -r 16777216
echo "GUEST-CAN listening burst $n"
wait $cdpid || die "candump (burst): $(cat /tmp/burst.err)"
val can.burst.count "$(wc -l < /tmp/burst)"
val can.burst.md5 "$(frames /tmp/burst | md5)"
val can.burst.first "$(frames /tmp/burst | head -n 1)"
val can.burst.last "$(frames /tmp/burst | tail -n 1)"

ip link set can0 down || die "ip link set can0 down failed"
val can.down "$(cat /sys/class/net/can0/operstate)"
echo "GUEST-CAN down"
ip link set can0 up || die "ip link set can0 up (again) failed"
listen 1 /tmp/after
echo "GUEST-CAN up-again"
wait $cdpid || die "candump (after up): $(cat /tmp/after.err)"
val can.after "$(frames /tmp/after)"
val can.stats "rx=$(cat /sys/class/net/can0/statistics/rx_packets) tx=$(cat /sys/class/net/can0/statistics/tx_packets) tx_dropped=$(cat /sys/class/net/can0/statistics/tx_dropped)"
val can.done 1
