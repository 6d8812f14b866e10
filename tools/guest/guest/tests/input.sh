# virtio-input on vmv-vhost-user-input: each device (input.devs=TAG:NAME:COUNT,...) is found by its name in
# /sys/class/input, its ids and capabilities printed; evtest and a raw reader (head -c COUNT*24) open its event
# node; "INPUT-READY" tells the host to send its events; once the raw reader has COUNT events, evtest is stopped
# and the events it printed go to the host, which compares them with what it sent. Then the guest switches the
# keyboard's CapsLock LED on and off by writing EV_LED events to its node (input.led=TAG): the host must get
# exactly these two status events on statusq.
. /tests/lib.sh
devs=$(arg input.devs ""); led=$(arg input.led "")
node_of() { for d in /sys/class/input/event*; do [ "$(cat "$d/device/name" 2>/dev/null)" = "$1" ] && { basename "$d"; return; }; done; }
for spec in $(echo "$devs" | tr ',' ' '); do
  tag=${spec%%:*}; rest=${spec#*:}; name=${rest%%:*}; n=${rest#*:}
  i=0; ev=""; while [ -z "$ev" ] && [ $i -lt 300 ]; do ev=$(node_of "$name"); [ -n "$ev" ] || sleep 0.1; i=$((i+1)); done
  [ -n "$ev" ] || die "no input device named $name: $(cat /sys/class/input/*/name 2>/dev/null | tr '\n' '|')"
  s=/sys/class/input/$ev/device
  val "input.$tag.name" "$(cat $s/name)"
  for f in bustype vendor product version; do val "input.$tag.$f" "$(cat $s/id/$f)"; done
  for f in ev key rel abs led; do val "input.$tag.cap.$f" "$(cat $s/capabilities/$f | tr ' ' '.')"; done
  val "input.$tag.properties" "$(cat $s/properties)"
  [ -c "/dev/input/$ev" ] || die "/dev/input/$ev is not a character device"
  evtest "/dev/input/$ev" > "/tmp/$tag.evtest" 2>&1 &
  echo $! > "/tmp/$tag.evtest.pid"
  head -c $((n * 24)) "/dev/input/$ev" > "/tmp/$tag.raw" &
  echo $! > "/tmp/$tag.raw.pid"
  echo "$ev" > "/tmp/$tag.node"
done
# both readers have the node open before the host sends anything
for spec in $(echo "$devs" | tr ',' ' '); do
  tag=${spec%%:*}; ev=$(cat /tmp/$tag.node)
  for p in $(cat /tmp/$tag.evtest.pid) $(cat /tmp/$tag.raw.pid); do
    i=0; while ! ls -l /proc/$p/fd 2>/dev/null | grep -q "/dev/input/$ev" && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
    ls -l /proc/$p/fd 2>/dev/null | grep -q "/dev/input/$ev" || die "reader $p of $tag never opened /dev/input/$ev"
  done
done
echo "INPUT-READY"
for spec in $(echo "$devs" | tr ',' ' '); do
  tag=${spec%%:*}; p=$(cat /tmp/$tag.raw.pid)
  i=0; while kill -0 "$p" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
  kill -0 "$p" 2>/dev/null && { kill "$p"; die "$tag: only $(wc -c < /tmp/$tag.raw) of the expected bytes arrived in 60 s"; }
  val "input.$tag.raw-bytes" "$(wc -c < /tmp/$tag.raw)"
done
echo "INPUT-RECEIVED"
for spec in $(echo "$devs" | tr ',' ' '); do
  tag=${spec%%:*}; p=$(cat /tmp/$tag.evtest.pid)
  kill -INT "$p"; i=0; while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  grep -q '^Testing' "/tmp/$tag.evtest" || die "$tag: evtest did not start: $(head -c 300 /tmp/$tag.evtest)"
  evs=$(sed -n -e 's/^Event: .*, type \([0-9]*\) ([^)]*), code \([0-9]*\) ([^)]*), value \(-\{0,1\}[0-9a-f]*\)$/\1,\2,\3/p' \
    -e 's/^Event: .*-------------- SYN_REPORT ------------$/0,0,0/p' -e 's/^Event: .*++++++++++++++ SYN_MT_REPORT ++++++++++++$/0,2,0/p' "/tmp/$tag.evtest" | tr '\n' ';')
  val "input.$tag.evtest" "$evs"
done
if [ -n "$led" ]; then
  ev=$(cat /tmp/$led.node)
  z='\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000'
  # struct input_event: 16 bytes of time, le16 type EV_LED (17), le16 code LED_CAPSL (1), le32 value; then SYN_REPORT
  printf "$z\021\000\001\000\001\000\000\000$z\000\000\000\000\000\000\000\000" > "/dev/input/$ev" || die "writing LED on to /dev/input/$ev failed"
  printf "$z\021\000\001\000\000\000\000\000$z\000\000\000\000\000\000\000\000" > "/dev/input/$ev" || die "writing LED off to /dev/input/$ev failed"
  val "input.led" "$ev"
fi
