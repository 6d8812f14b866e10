# Helpers sourced by the guest tests (busybox ash).
# arg KEY DEFAULT: value of KEY=... on the kernel command line, else DEFAULT
arg() { for a in $GUEST_CMDLINE; do case "$a" in "$1"=*) echo "${a#*=}"; return;; esac; done; echo "$2"; }
val() { echo "GUEST-VALUE $1 $2"; }                     # a value the host checks
die() { echo "FAIL: $*"; exit 1; }
md5() { md5sum | cut -d' ' -f1; }
# wait_dev DEV: the block device node appears after the driver probed (fails only on a hang: 60 s)
wait_dev() { i=0; while [ ! -b "$1" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; [ -b "$1" ] || die "no block device $1"; }
# rdmd5 DEV OFFSET_BYTES LEN_BYTES BS: md5 of a range read with O_DIRECT in blocks of BS bytes
rdmd5() { dd if="$1" bs="$4" skip=$(($2 / $4)) count=$(($3 / $4)) iflag=direct 2>/dev/null | md5; }
hex() { od -An -v -tx1 | tr -d ' \n'; }                # stdin as one line of hex
# scsi_lun N: the sysfs directory of LUN N of target 0 (any host) once its disk exists, else nothing
scsi_lun() { for d in /sys/bus/scsi/devices/*:0:0:$1; do [ -d "$d/block" ] && echo "$d" && return; done; }
# scsi_wait N...: waits for the disks of LUNs N... of target 0 (fails only on a hang: 120 s)
scsi_wait() { for l in "$@"; do i=0; while [ -z "$(scsi_lun "$l")" ]; do sleep 0.1; i=$((i+1)); [ $i -lt 1200 ] || die "no disk for LUN $l of target 0: $(ls /sys/bus/scsi/devices)"; done; done; }
