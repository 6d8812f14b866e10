# Sourced by the scripts that work in a platform root (make-root.sh, fetch-kernel.sh -r, build-modules.sh,
# root-packages.sh). Every message starts with the calling script's name.
ME=$(basename "$0" .sh)
fail() { echo "$ME: $*" >&2; exit 1; }
step() { echo "$ME: $*" >&2; }

# apt_in ROOT ARGS...: apt-get inside ROOT (a chroot with no mounts: apt needs none), non-interactive.
apt_in() {
  local root=$1; shift
  DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -q -y -o Dpkg::Use-Pty=0 -o APT::Sandbox::User=root \
    -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

# mounts_under DIR: the mount points at or below DIR, deepest first.
mounts_under() {
  local dir
  dir=$(readlink -f "$1" 2>/dev/null) || return 0
  awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/mounts | sort -r
}

# unmount_under DIR: unmounts everything mounted at or below DIR (lazily if busy).
unmount_under() {
  local m
  for m in $(mounts_under "$1"); do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
}

# remove_root DIR: unmounts what is under DIR, then removes it without crossing into another filesystem.
remove_root() {
  [ -e "$1" ] || return 0
  unmount_under "$1"
  if [ -n "$(mounts_under "$1")" ]; then
    echo "$ME: not removing $1: still mounted: $(mounts_under "$1" | tr '\n' ' ')" >&2
    return 1
  fi
  rm -rf --one-file-system "$1"
}

# with_proc ROOT CMD...: runs CMD with /proc mounted in ROOT (objtool reads /proc/self/maps); always unmounts.
with_proc() {
  local root=$1 rc=0; shift
  mkdir -p "$root/proc"
  mount -t proc proc "$root/proc" || fail "cannot mount /proc in $root"
  "$@" || rc=$?
  umount "$root/proc" 2>/dev/null || umount -l "$root/proc" 2>/dev/null || true
  return $rc
}
