#!/usr/bin/env bash
# Build (once) the root disk of the fstests guest: Debian bookworm with the
# packages of scripts/fstests/packages.txt and fstests built from a checkout.
#
#   scripts/fstests/build-image.sh XFSTESTS_DIR      prints the image path
#
# Cached under $LIVEDFS_CACHE/fstests/<key>/root.img, where the key covers
# the package list, this script, the guest's init and the fstests source
# (its commit and any local change). A second run with the same inputs
# prints the cached image at once. Needs root (debootstrap, chroot) and
# Debian's package archive; takes about 15 minutes on 2 cores.
source "$(dirname "$0")/../lib.sh"

XFSTESTS=${1:?usage: build-image.sh XFSTESTS_DIR}
XFSTESTS=$(cd "$XFSTESTS" && pwd)
[ -f "$XFSTESTS/check" ] && [ -d "$XFSTESTS/tests/generic" ] \
    || die "$XFSTESTS does not look like an fstests checkout (no check, tests/generic)"
HERE="$LIVEDFS_ROOT/scripts/fstests"
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
IMAGE_SIZE=${FSTESTS_IMAGE_SIZE:-6G}

packages=$(sed 's/#.*//' "$HERE/packages.txt" | tr -s ' \t\n' '\n' | sed '/^$/d' | sort -u)

# What identifies the fstests source: the commit and a hash of local
# changes for a git checkout, else a hash of every file.
xfstests_id() {
    if git -C "$XFSTESTS" rev-parse --verify -q HEAD >/dev/null 2>&1; then
        git -C "$XFSTESTS" rev-parse HEAD
        { git -C "$XFSTESTS" diff HEAD; git -C "$XFSTESTS" ls-files -o --exclude-standard; } | sha256sum
    else
        (cd "$XFSTESTS" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum
    fi
}
key=$( { echo "$SUITE $MIRROR"; echo "$packages"; cat "$0" "$HERE/init"; xfstests_id; } | sha256sum | cut -c1-16)
dir="$LIVEDFS_CACHE/fstests/$key"
if [ -f "$dir/.livedfs-done" ]; then
    echo "$dir/root.img"
    exit 0
fi

[ "$(id -u)" = 0 ] || die "building the fstests image needs root (debootstrap, chroot)"
command -v debootstrap >/dev/null || { log "installing debootstrap"; apt-get install -y -q debootstrap >&2; }
command -v mke2fs >/dev/null || die "mke2fs (e2fsprogs) is missing"

rm -rf "$dir" && mkdir -p "$dir"
stage="$dir/stage"
mounted=()
cleanup() {
    local rc=$?
    [ $rc -eq 0 ] || echo "build-image.sh: failed (exit $rc); logs in $dir" >&2
    for ((i=${#mounted[@]}-1; i>=0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
    rm -rf "$stage"
}
trap cleanup EXIT
chroot_mounts() {
    mount -t proc proc "$stage/proc" && mounted+=("$stage/proc")
    mount -t sysfs sysfs "$stage/sys" && mounted+=("$stage/sys")
    mount --bind /dev "$stage/dev" && mounted+=("$stage/dev")
    mount -t devpts devpts "$stage/dev/pts" -o newinstance && mounted+=("$stage/dev/pts")
}
in_chroot() { LC_ALL=C DEBIAN_FRONTEND=noninteractive chroot "$stage" /usr/bin/env -i \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C DEBIAN_FRONTEND=noninteractive "$@"; }

log "fstests image $key: debootstrap $SUITE (minbase) into $stage"
debootstrap --variant=minbase "$SUITE" "$stage" "$MIRROR" > "$dir/debootstrap.log" 2>&1 \
    || { tail -n 30 "$dir/debootstrap.log" >&2; die "debootstrap failed (log: $dir/debootstrap.log)"; }
chroot_mounts
echo "deb $MIRROR $SUITE main" > "$stage/etc/apt/sources.list"
log "installing $(echo "$packages" | wc -l) packages"
{ in_chroot apt-get update -q && \
  in_chroot apt-get install -y -q --no-install-recommends $packages; } > "$dir/apt.log" 2>&1 \
    || { tail -n 30 "$dir/apt.log" >&2; die "apt-get install failed (log: $dir/apt.log)"; }
in_chroot apt-get clean

log "building fstests from $XFSTESTS"
mkdir -p "$stage/opt/xfstests"
if git -C "$XFSTESTS" rev-parse --verify -q HEAD >/dev/null 2>&1; then
    # Only the source (tracked and untracked, not ignored): no build
    # products of the host.
    (cd "$XFSTESTS" && git ls-files -z -co --exclude-standard | tar --null -T - -cf -) \
        | tar -xf - -C "$stage/opt/xfstests"
    git -C "$XFSTESTS" rev-parse HEAD > "$stage/opt/xfstests/.livedfs-commit"
else
    cp -a "$XFSTESTS/." "$stage/opt/xfstests/"
fi
in_chroot bash -c "cd /opt/xfstests && make -j$NPROC" > "$dir/make.log" 2>&1 \
    || { tail -n 30 "$dir/make.log" >&2; die "building fstests failed (log: $dir/make.log)"; }

log "configuring the guest"
# The users and groups fstests' README asks for.
in_chroot bash -c 'useradd -m fsgqa && useradd 123456-fsgqa && useradd fsgqa2 && groupadd -f fsgqa' \
    >> "$dir/make.log" 2>&1 || die "useradd failed"
install -m 0755 "$HERE/init" "$stage/usr/local/sbin/fstests-init"
echo fstests > "$stage/etc/hostname"
printf '127.0.0.1\tlocalhost fstests\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$stage/etc/hosts"
echo "/dev/root / ext4 rw 0 0" > "$stage/etc/fstab"
mkdir -p "$stage/mnt/test" "$stage/mnt/scratch" "$stage/job"

for ((i=${#mounted[@]}-1; i>=0; i--)); do umount "${mounted[$i]}"; done
mounted=()
log "writing the root image ($IMAGE_SIZE, sparse)"
mke2fs -q -t ext4 -L fstests-root -d "$stage" "$dir/root.img" "$IMAGE_SIZE" \
    || die "mke2fs -d failed"
echo "$packages" > "$dir/packages"
touch "$dir/.livedfs-done"
echo "$dir/root.img"
