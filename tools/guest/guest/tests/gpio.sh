# virtio-gpio on vmv-vhost-user-gpio (a simulated chip of 8 lines, named by the host) through the out-of-tree
# gpio-virtio driver and Debian's gpiod 2.x tools. The guest asks the host for each step with a GUEST-GPIO line and
# polls for its effect:
#   gpiodetect / gpioinfo   the chip, its line count and names -> gpio.detect, gpio.names
#   gpioset led=1           held by gpioset; GUEST-GPIO led asks the host to read the line (control "lines")
#   gpioget in0             GUEST-GPIO in0 1 asks the host to drive in0 high; gpioget reads it
#   gpiomon (both edges)    GUEST-GPIO burst 8 asks the host for 8 edges on btn, each paced on the guest's unmask,
#                           125 times (one gpiomon -n 8 each); gpiomon's events (type, offset) in order ->
#                           gpio.mon.count, gpio.mon.md5; then rising only and falling only: 48 pulses each (GUEST-GPIO
#                           pulses-rising 8, 6 times), gpiomon's events counted by type
. /tests/lib.sh
chip=""; i=0
while [ -z "$chip" ] && [ $i -lt 600 ]; do chip=$(gpiodetect 2>/dev/null | grep -i virtio | head -n 1 | cut -d' ' -f1); [ -n "$chip" ] || sleep 0.1; i=$((i + 1)); done
[ -n "$chip" ] || die "no virtio gpiochip: $(gpiodetect 2>&1)"
val gpio.detect "$(gpiodetect | grep "^$chip " | sed 's/ \[[^]]*\]//')"
val gpio.names "$(gpioinfo -c "$chip" | tail -n +2 | sed 's/^[^"]*"\([^"]*\)".*/\1/' | tr '\n' ',')"
gpioset -c "$chip" led=1 & gs=$!
i=0; while ! gpioinfo -c "$chip" led | grep -q output && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
echo "GUEST-GPIO led"
# the host answers by driving in1 high once it has read led
i=0; while [ "$(gpioget --numeric -c "$chip" in1)" != 1 ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
kill $gs; wait $gs 2>/dev/null
val gpio.in1 "$(gpioget --numeric -c "$chip" in1)"
echo "GUEST-GPIO in0 1"
i=0; while [ "$(gpioget --numeric -c "$chip" in0)" != 1 ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
val gpio.in0 "$(gpioget --numeric -c "$chip" in0)"
# watch EDGES EVENTS REQUEST OUT: EVENTS events of gpiomon -e EDGES on btn into OUT, asked of the host in chunks of 8
# (GUEST-GPIO REQUEST 8 each time): the kernel keeps 16 events per requested line and drops the oldest beyond that,
# and the host paces its edges on the driver's unmask, not on gpiomon's reads, so a chunk is asked for only once the
# last one was read and gpiomon's request has returned (it sleeps in ppoll). Not before: gpiolib-cdev's
# linereq_create requests the line's interrupt and only then stores the line's edge flags, and an edge in between
# runs the interrupt thread against no flags (IRQ_NONE, the event dropped): on a loaded host gpiomon's first edge of
# a chunk was lost that way (the driver took every interrupt; /proc/irq/N/spurious counted one unhandled).
# A chunk gpiomon does not finish in 60 s fails the test with what it printed (it flushes before each poll) and the
# interrupt's counts; the host adds the device's view of btn.
watch() {
  : > "$4"; k=0
  while [ $k -lt "$2" ]; do
    gpiomon -c "$chip" -e "$1" -n 8 -F '%e %o' btn >> "$4" 2>/tmp/mon.err & gm=$!
    i=0; while ! grep -q poll "/proc/$gm/wchan" 2>/dev/null && kill -0 $gm 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    echo "GUEST-GPIO $3 8"
    i=0; while kill -0 $gm 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    if kill -0 $gm 2>/dev/null; then
      irq=$(grep gpiomon /proc/interrupts | cut -d: -f1 | tr -d ' ')
      echo "GUEST-GPIO stall"
      kill $gm
      die "gpiomon -e $1 printed $(wc -l < "$4") events of $((k + 8)) in 60 s (types $(cut -d' ' -f1 < "$4" | tr -d '\n')); irq $irq: $(grep gpiomon /proc/interrupts | tr -s ' '), spurious $(tr '\n' ' ' < /proc/irq/$irq/spurious)"
    fi
    wait $gm || die "gpiomon -e $1 failed after $k events: $(cat /tmp/mon.err)"
    k=$((k + 8))
  done
}
n=$(arg gpio.edges 1000)
watch both "$n" burst /tmp/mon
val gpio.mon.count "$(wc -l < /tmp/mon)"
val gpio.mon.md5 "$(md5 < /tmp/mon)"
head -n 4 /tmp/mon
# one edge type at a time: GUEST-GPIO pulses-TYPE N asks for N pulses; gpiomon wants N events of its type
for e in rising falling; do
  watch $e 48 "pulses-$e" /tmp/mon.$e
  val gpio.mon.$e "$(sort /tmp/mon.$e | uniq -c | tr -s ' ' | sed 's/^ //' | tr '\n' ';')"
  echo "GUEST-GPIO done $e"
done
val gpio.done 1

# Level interrupts (gpiod's tools request edges only): vmv_level_irq.ko asks gpiolib for a line's interrupt with a
# level trigger and counts its threaded handler's runs; at each multiple of its limit it disables the interrupt.
#   level high on l4: none while l4 is low; GUEST-GPIO set l4 1 -> the handler runs again and again while the level
#   holds, to the limit (gpio.level.high); GUEST-GPIO set l4 0, rearm: none while low (gpio.level.rearmed-low);
#   GUEST-GPIO set l4 1 -> to twice the limit (gpio.level.high2). Level low on l5 (pulled down): it fires at once, to
#   the limit (gpio.level.low); GUEST-GPIO set l5 1, rearm: none while high (gpio.level.rearmed-high).
ko=$(arg gpio.levelko "")
label=$(gpiodetect | grep "^$chip " | sed 's/.*\[\(.*\)\].*/\1/')
P=/sys/module/vmv_level_irq/parameters
count() { cat $P/count; }
upto() { i=0; while [ "$(count)" -lt "$1" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done; sleep 0.5; count; }
# sethost LINE VALUE: the host drives LINE, then toggles l6 to say it did. l4 and l5 are not read here: a released
# line's direction goes back to none, and that discards its interrupt (§5.18.6.7)
sethost() {
  was=$(gpioget --numeric -c "$chip" l6); echo "GUEST-GPIO set $1 $2"
  i=0; while [ "$(gpioget --numeric -c "$chip" l6)" = "$was" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
}
insmod "$ko" chip="$label" line=4 level=high limit=100 || die "insmod vmv_level_irq line=4 level=high failed"
sleep 1; val gpio.level.idle "$(count)"
sethost l4 1
val gpio.level.high "$(upto 100)"
sethost l4 0
echo 1 > $P/rearm; sleep 1; val gpio.level.rearmed-low "$(count)"
sethost l4 1
val gpio.level.high2 "$(upto 200)"
sethost l4 0
rmmod vmv_level_irq || die "rmmod vmv_level_irq failed"
insmod "$ko" chip="$label" line=5 level=low limit=50 || die "insmod vmv_level_irq line=5 level=low failed"
val gpio.level.low "$(upto 50)"
sethost l5 1
echo 1 > $P/rearm; sleep 1; val gpio.level.rearmed-high "$(count)"
rmmod vmv_level_irq || die "rmmod vmv_level_irq failed"
val gpio.level.done 1
