# virtio-snd playback: the cards and PCMs the driver found (aplay -l), then a clip of random frames played with aplay
# to the first playback PCM as raw data (sound.rate=, sound.channels=, sound.format=, sound.secs=): its md5 and the
# wall time aplay took (uptime, 10 ms resolution), for the host to find the same bytes in its output at the right pace;
# then, with sound.capture-frames=N, N frames captured with arecord from the first capture PCM (their md5).
# Every aplay and arecord asks for a 1 s ring buffer (-B, the most the device allows): ALSA fails a write or read with
# EIO when no period completes within 1.1 buffer times, which a loaded host can exceed with the default half second.
. /tests/lib.sh
i=0; while [ ! -e /dev/snd/pcmC0D0p ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
[ -e /dev/snd/pcmC0D0p ] || die "no playback PCM: $(ls /dev/snd 2>&1)"
aplay -l | sed 's/^/aplay -l: /'
val sound.cards "$(aplay -l | grep -c '^card ')"
rate=$(arg sound.rate 48000); ch=$(arg sound.channels 2); fmt=$(arg sound.format S16_LE); secs=$(arg sound.secs 5)
case $fmt in S16_LE) bps=2;; S32_LE|S24_LE) bps=4;; U8) bps=1;; *) die "format $fmt";; esac
bytes=$((rate * ch * bps * secs))
dd if=/dev/urandom of=/tmp/clip bs=$((rate * ch * bps / 10)) count=$((secs * 10)) 2>/dev/null
val sound.clip.bytes "$(wc -c < /tmp/clip)"
val sound.clip.md5 "$(md5 < /tmp/clip)"
t0=$(cut -d' ' -f1 /proc/uptime)
aplay -q -B 1000000 -D hw:0,0 -t raw -f "$fmt" -r "$rate" -c "$ch" /tmp/clip || die "aplay failed"
t1=$(cut -d' ' -f1 /proc/uptime)
val sound.play.t0 "$t0"
val sound.play.t1 "$t1"
# capture (sound.capture-frames=N): N frames from the first capture PCM, raw, their md5
cap=$(arg sound.capture-frames 0)
if [ "$cap" != 0 ]; then
  [ -e /dev/snd/pcmC0D0c ] || die "no capture PCM: $(ls /dev/snd 2>&1)"
  arecord -q -B 1000000 -D hw:0,0 -t raw -f "$fmt" -r "$rate" -c "$ch" -s "$cap" /tmp/cap || die "arecord failed"
  val sound.capture.bytes "$(wc -c < /tmp/cap)"
  val sound.capture.md5 "$(md5 < /tmp/cap)"
fi
val sound.done 1
