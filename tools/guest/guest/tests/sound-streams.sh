# virtio-snd with a layout of three streams (vmv-vhost-user-sound --layout): output 0 (S16_LE 48 kHz stereo) and input
# 0 on PCM device 0, output 1 (S32_LE 44.1 kHz mono) on PCM device 1, a volume and a switch per stream. The clips come
# from the host on /dev/vda (snd.clips=NAME:OFFSET:BYTES,...), so the host knows every byte:
#   listing   aplay -l, arecord -l and amixer's controls (for the host to compare with the layout)
#   two       clip a on device 0 and clip b on device 1 at the same time
#   restart   clip c on device 0 stopped about 1 s after it runs (SIGINT), then clip d played whole
#   starve    clip e on device 0 fed through a pipe that stalls for 1.5 s in the middle (aplay underruns, recovers)
#   xrun      clip g the same way, with aplay -T 10 s: ALSA does not stop the stream on its own, the device runs dry
#             while the stream runs and reports an XRUN event (the host counts it), and the stream goes on
#   pause     clip f on device 0 with aplay -i on a pty (socat): paused 1 s into it with the space key for 1.5 s, then
#             resumed (snd_pcm_pause: the driver's PCM_STOP and PCM_START); its wall time -> snd.pause.secs
# Every aplay and arecord asks for a 1 s ring buffer (-B, the most the device allows): ALSA fails a write or read with
# EIO when no period completes within 1.1 buffer times, which a loaded host can exceed with the default half second.
. /tests/lib.sh
# running: waits (up to 60 s) until device 0's playback stream runs, so that what follows happens mid-stream on a
# loaded host too, not before the first frame
running() { i=0; until grep -q RUNNING /proc/asound/card0/pcm0p/sub0/status 2>/dev/null || [ $i -ge 600 ]; do sleep 0.1; i=$((i + 1)); done; }
i=0; while [ ! -e /dev/snd/pcmC0D1p ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
[ -e /dev/snd/pcmC0D1p ] || die "no second playback PCM: $(ls /dev/snd 2>&1)"
wait_dev /dev/vda
val snd.aplay "$(aplay -l | grep '^card ' | sed 's/ \[[^]]*\]//g' | tr '\n' ';')"
val snd.arecord "$(arecord -l | grep '^card ' | sed 's/ \[[^]]*\]//g' | tr '\n' ';')"
val snd.controls "$(amixer -c 0 controls | sed "s/.*name=//; s/'//g" | tr '\n' ';')"
for spec in $(arg snd.clips "" | tr ',' ' '); do
  name=${spec%%:*}; rest=${spec#*:}; off=${rest%%:*}; len=${rest#*:}
  dd if=/dev/vda of=/tmp/$name bs=4096 skip=$((off / 4096)) count=$((len / 4096)) iflag=direct 2>/dev/null
done
play0() { aplay -q -B 1000000 -D hw:0,0 -t raw -f S16_LE -r 48000 -c 2 "$@"; }
play1() { aplay -q -B 1000000 -D hw:0,1 -t raw -f S32_LE -r 44100 -c 1 "$@"; }
play0 /tmp/a & pa=$!
play1 /tmp/b & pb=$!
wait $pa || die "aplay of clip a on device 0 failed"
wait $pb || die "aplay of clip b on device 1 failed"
val snd.two 1
play0 /tmp/c & pc=$!
running; sleep 1; kill -INT $pc; wait $pc
play0 /tmp/d || die "aplay of clip d after the stop failed"
val snd.restart 1
half=$(($(wc -c < /tmp/e) / 2))
{ head -c $half /tmp/e; sleep 1.5; tail -c +$((half + 1)) /tmp/e; } | play0 - 2>/tmp/starve.err
echo "starve: $(cat /tmp/starve.err)"
val snd.starve "$(grep -c -i underrun /tmp/starve.err)"
half=$(($(wc -c < /tmp/g) / 2))
{ head -c $half /tmp/g; sleep 1.5; tail -c +$((half + 1)) /tmp/g; } | play0 -T 10000000 - || die "aplay of clip g through a stalled pipe failed"
# (in a script: socat's address options are comma-separated, and hw:0,0 has one)
printf '#!/bin/sh\nexec aplay -i -B 1000000 -D hw:0,0 -t raw -f S16_LE -r 48000 -c 2 /tmp/f\n' > /tmp/pause.sh; chmod +x /tmp/pause.sh
t0=$(cut -d' ' -f1 /proc/uptime)
{ running; sleep 1; printf ' '; sleep 1.5; printf ' '; sleep 30; } | socat - EXEC:/tmp/pause.sh,pty,setsid,ctty,rawer > /tmp/pause.out 2>&1 &
sp=$!
# aplay runs under socat: its end is when device 0's playback stream closes (the guest has no pgrep)
running; i=0; until grep -q closed /proc/asound/card0/pcm0p/sub0/status || [ $i -ge 600 ]; do sleep 0.1; i=$((i + 1)); done
t1=$(cut -d' ' -f1 /proc/uptime)
kill $sp 2>/dev/null
echo "pause: $(tr '\r' ' ' < /tmp/pause.out | tr -s ' ')"
# an aplay error (seen once in CI on a loaded host: EIO from pcm_write) with the kernel's own words for it
grep -q error /tmp/pause.out && echo "pause: kernel: $(dmesg | grep -i -E 'snd|virtio|pcm' | tail -5 | tr '\n' ';')"
val snd.pause.seen "$(grep -c PAUSE /tmp/pause.out)"
val snd.pause.secs "$(echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }')"
val snd.done 1
