# Debian programs copied into the guest run: every program named in tools.check=a,b,... starts, finds its
# shared libraries and answers (its version, or its usage). A missing library or loader fails the test.
. /tests/lib.sh
n=0
for p in $(arg tools.check "" | tr ',' ' '); do
  command -v "$p" >/dev/null 2>&1 || die "$p is not in the image"
  case $p in
    socat|i2cdetect|i2cget) flag=-V ;;
    cansend|candump|evtest) flag=-h ;;
    *) flag=--version ;;
  esac
  out=$("$p" $flag 2>&1 </dev/null); rc=$?
  line=$(echo "$out" | grep -v '^$' | head -n 1)
  echo "tool $p $flag: rc=$rc: $line"
  case "$out" in *"error while loading shared libraries"*|*"not found"*) die "$p cannot run: $line" ;; esac
  [ $rc -ne 126 ] && [ $rc -ne 127 ] && [ -n "$line" ] || die "$p did not run (rc $rc)"
  n=$((n+1))
done
val tools.ran "$n"
