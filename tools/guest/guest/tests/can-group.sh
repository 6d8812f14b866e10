# virtio-can, two guests on one bus of vmv-vhost-user-can (this one is can.me, the other can.other): candump records
# everything can0 sees; once both guests listen, the host sends 700#00 to both; then each sends can.n frames with ids
# <me>00.. and data <me>,<j> and waits for the other's. Its own frames must show once each in candump (the kernel's
# local echo) and rx_packets count only what the device delivered: the other's frames and the host's start frame.
. /tests/lib.sh
me=$(arg can.me 1); other=$(arg can.other 2); n=$(arg can.n 50)
i=0; while [ ! -d /sys/class/net/can0 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
[ -d /sys/class/net/can0 ] || die "no can0"
ip link set can0 up || die "ip link set can0 up failed"
candump -L can0 > /tmp/dump 2>/tmp/dump.err & cdpid=$!
i=0; while [ "$(grep -c '^ *can0 ' /proc/net/can/rcvlist_all 2>/dev/null)" -lt 1 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
echo "GUEST-CAN-GROUP ready $me"
# the other guest may boot much later on a loaded host: the start frame can take minutes (a hang fails at 10 min)
i=0; while ! grep -q ' 700#00$' /tmp/dump && [ $i -lt 6000 ]; do sleep 0.1; i=$((i + 1)); done
grep -q ' 700#00$' /tmp/dump || die "no start frame from the host: $(cat /tmp/dump.err)"
j=0; while [ $j -lt "$n" ]; do cansend can0 "$(printf '%X%02X#%02X%02X' "$me" "$j" "$me" "$j")" || die "cansend failed"; j=$((j + 1)); done
theirs() { grep " ${other}[0-9A-F][0-9A-F]#" /tmp/dump | cut -d' ' -f3; }
i=0; while [ "$(theirs | wc -l)" -lt "$n" ] && [ $i -lt 6000 ]; do sleep 0.1; i=$((i + 1)); done
i=0; while [ "$(cat /sys/class/net/can0/statistics/tx_packets)" -lt "$n" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
kill $cdpid; wait $cdpid 2>/dev/null
val can.group.other.count "$(theirs | wc -l)"
val can.group.other "$(theirs | md5)"
val can.group.mine "$(grep -c " ${me}[0-9A-F][0-9A-F]#" /tmp/dump)"
val can.group.rx "$(cat /sys/class/net/can0/statistics/rx_packets)"
