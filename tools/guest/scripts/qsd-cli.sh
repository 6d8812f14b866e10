#!/usr/bin/env bash
# qemu-storage-daemon behind the command-line contract the harness expects of a vhost-user-blk backend:
#   qsd-cli.sh --socket PATH --image FILE [--readonly] [--queues N] [--direct]
# Serves FILE as a vhost-user-blk export on the unix socket PATH until SIGTERM. Use it to check the harness's
# command-backend path (VMV_GUEST_VMV_CMD=tools/guest/scripts/qsd-cli.sh) or as the model for a new backend.
# --direct: O_DIRECT with Linux AIO (cache.direct=on,aio=native); without it, the host page cache and a thread pool.
set -euo pipefail
SOCK= ; IMG= ; RO=0 ; Q=1 ; CACHE=cache.direct=off,aio=threads
while [ $# -gt 0 ]; do
  case $1 in
    --socket) SOCK=$2; shift 2;; --image) IMG=$2; shift 2;; --queues) Q=$2; shift 2;; --readonly) RO=1; shift;;
    --direct) CACHE=cache.direct=on,aio=native; shift;;
    *) echo "qsd-cli: unknown argument $1" >&2; exit 2;;
  esac
done
[ -n "$SOCK" ] && [ -n "$IMG" ] || { echo "usage: qsd-cli.sh --socket PATH --image FILE [--readonly] [--queues N] [--direct]" >&2; exit 2; }
esc() { printf '%s' "${1//,/,,}"; }
if [ "$RO" = 1 ]; then W=off; R=,read-only=on; else W=on; R=; fi
exec qemu-storage-daemon \
  --blockdev "driver=file,node-name=file0,filename=$(esc "$IMG"),$CACHE$R" \
  --blockdev "driver=raw,node-name=disk0,file=file0$R" \
  --export "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=$(esc "$SOCK"),writable=$W,num-queues=$Q"
