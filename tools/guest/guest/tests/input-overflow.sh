# virtio-input overflow: the host sends a burst of packets faster than the guest returns eventq buffers, to a
# daemon whose queue holds 16 events; then, once its queue is empty, one last packet (ABS_Y 12345). The guest
# reads the node raw (cat) until that packet arrives, then prints what evtest saw; the host checks the packets
# are whole, in order, and that exactly the ones the daemon counted as dropped are missing.
. /tests/lib.sh
name=$(arg input.name "")
i=0; ev=""; while [ -z "$ev" ] && [ $i -lt 300 ]; do
  for d in /sys/class/input/event*; do [ "$(cat "$d/device/name" 2>/dev/null)" = "$name" ] && ev=$(basename "$d"); done
  [ -n "$ev" ] || sleep 0.1; i=$((i+1))
done
[ -n "$ev" ] || die "no input device named $name"
evtest "/dev/input/$ev" > /tmp/o.evtest 2>&1 &
ep=$!
cat "/dev/input/$ev" > /tmp/o.raw &
cp=$!
for p in $ep $cp; do
  i=0; while ! ls -l /proc/$p/fd 2>/dev/null | grep -q "/dev/input/$ev" && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
done
echo "INPUT-READY"
# the last packet: EV_ABS (3) ABS_Y (1) 12345 (0x3039), as bytes of struct input_event after the time
i=0; while ! od -An -v -tx1 /tmp/o.raw | tr -d ' \n' | grep -q "0300010039300000" && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
kill "$cp"
od -An -v -tx1 /tmp/o.raw | tr -d ' \n' | grep -q "0300010039300000" || die "the last packet never arrived ($(wc -c < /tmp/o.raw) bytes)"
echo "INPUT-RECEIVED"
kill -INT "$ep"; i=0; while kill -0 "$ep" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
evs=$(sed -n -e 's/^Event: .*, type \([0-9]*\) ([^)]*), code \([0-9]*\) ([^)]*), value \(-\{0,1\}[0-9a-f]*\)$/\1,\2,\3/p' \
  -e 's/^Event: .*-------------- SYN_REPORT ------------$/0,0,0/p' -e 's/^Event: .*SYN_DROPPED.*$/0,3,0/p' /tmp/o.evtest | tr '\n' ';')
val input.overflow.evtest "$evs"
val input.overflow.raw-bytes "$(wc -c < /tmp/o.raw)"
