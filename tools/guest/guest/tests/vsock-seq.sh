# virtio-vsock SEQPACKET through the kernel's vmw_vsock_virtio_transport, against the host program
# bin/vsock-seqpacket.mjs behind QEMU's vhost-user-vsock-pci (lib/vsock-seqpacket.mjs).
#   echo   Debian's socat listens on vseq.port= as SOCK_SEQPACKET (socktype=5) and echoes each message whole through
#          a datagram socketpair (-b above 64 KiB, or a read would truncate a message); the host connects, sends its
#          messages, checks the echoes and shuts its side down; socat's exit status is reported
. /tests/lib.sh
port=$(arg vseq.port 7000)
i=0; while [ ! -e /dev/vsock ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
[ -e /dev/vsock ] || die "no /dev/vsock"
echo "VSOCK-SEQ-LISTEN $port"
socat -b 131072 VSOCK-LISTEN:"$port",socktype=5 SOCKETPAIR 2> /tmp/socat.err
rc=$?
val vseq.socat "$rc"
[ "$rc" -eq 0 ] || { cat /tmp/socat.err; die "socat exited with $rc"; }
