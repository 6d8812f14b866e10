# virtio-console over vmv-vhost-user-console (QEMU's vhost-user-test-device-pci, virtio-id=3): port 0 is hvc0
# (console=hvc0), ports 1..4 are named. A kernel message reaches the host on hvc0; a shell on hvc0 answers the
# host; each named port, found by its name, carries console.bytes= bytes each way (md5 printed for the host);
# port 1 is then closed and reopened (the host sees PORT_OPEN 0 then 1); console.rate= bytes each way through it
# give bytes/s (host to guest timed here, guest to host on the host).
. /tests/lib.sh
n=$(arg console.bytes 1048576); names=$(arg console.names "")
i=0; while [ ! -e /dev/hvc0 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
[ -e /dev/hvc0 ] || die "no /dev/hvc0"
echo "<2>vmv-console: kernel message on hvc0" > /dev/kmsg
# a shell on hvc0 for the host (it sends commands, then exit)
sh -c 'stty -echo 2>/dev/null; echo vmv-console: shell ready; exec sh' < /dev/hvc0 > /dev/hvc0 2>&1 &
shell=$!
devs=""; pids=""
for name in $(echo "$names" | tr ',' ' '); do
  dev=""; i=0
  while [ -z "$dev" ] && [ $i -lt 600 ]; do
    for p in /sys/class/virtio-ports/vport*; do [ "$(cat "$p/name" 2>/dev/null)" = "$name" ] && dev=/dev/${p##*/}; done
    [ -n "$dev" ] || { sleep 0.1; i=$((i+1)); }
  done
  [ -n "$dev" ] || die "no port named $name"
  val "console.dev.$name" "$dev"
  devs="$devs $name=$dev"
done
# every named port at once, both ways on one open (a port opens once)
for nd in $devs; do
  name=${nd%%=*}; dev=${nd#*=}
  head -c "$n" /dev/urandom > "/tmp/up.$name"
  val "console.up.$name" "$(md5 < "/tmp/up.$name")"
  ( exec 3<> "$dev"; head -c "$n" <&3 | md5 > "/tmp/down.$name" & r=$!; cat "/tmp/up.$name" >&3; wait $r ) &
  pids="$pids $!"
done
for p in $pids; do wait "$p"; done
for nd in $devs; do name=${nd%%=*}; val "console.down.$name" "$(cat "/tmp/down.$name")"; done
# close and reopen the first port: the host sees PORT_OPEN 0 then 1 (and 0 again at the close)
first=${devs# }; first=${first%% *}; first=${first#*=}
exec 4<> "$first"; exec 4>&-
# rate through the first port: console.rate= bytes each way, timed here
r=$(arg console.rate 16777216)
head -c "$r" /dev/zero > /tmp/rate
exec 3<> "$first"
cat /tmp/rate >&3; t1=$(cut -d' ' -f1 /proc/uptime)
head -c "$r" <&3 > /dev/null; t2=$(cut -d' ' -f1 /proc/uptime)
exec 3>&-
val console.rate.down "$(awk -v n="$r" -v a="$t1" -v b="$t2" 'BEGIN{printf "%d", n/((b-a)>0.01?(b-a):0.01)}')"
i=0; while kill -0 $shell 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
kill -0 $shell 2>/dev/null && die "the shell on hvc0 got no exit from the host"
val console.shell done
