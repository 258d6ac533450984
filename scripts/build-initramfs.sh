#!/usr/bin/env bash
# Build the test VM's base initramfs: busybox, the livedfs module, the
# userspace tools (static binaries) and the guest test scripts.
#
#   scripts/build-initramfs.sh KDIR OUT.cpio
#
# The VM runner appends a second, per-run archive holding /job.sh.
source "$(dirname "$0")/lib.sh"

KDIR=${1:?usage: build-initramfs.sh KDIR OUT.cpio}
OUT=${2:?usage: build-initramfs.sh KDIR OUT.cpio}
KO="$LIVEDFS_ROOT/livedfs.ko"
TOOLS="$LIVEDFS_ROOT/userspace/target/x86_64-unknown-linux-gnu/release"
[ -f "$KO" ] || die "livedfs.ko is missing: run make module"
BUSYBOX=$(command -v busybox) || die "busybox is missing: run scripts/setup.sh"
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' || BUSYBOX=/bin/busybox
KREL=$(cat "$KDIR/include/config/kernel.release")

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
# mktemp makes it 0700: / must be searchable by every user (tests that
# drop to another uid).
chmod 755 "$root"
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,mnt,run,etc,root,usr/bin,usr/sbin}
mkdir -p "$root/lib/modules/$KREL/extra" "$root/tests"
cp "$BUSYBOX" "$root/bin/busybox"
cp "$KO" "$root/lib/modules/$KREL/extra/livedfs.ko"
# Tools: every static binary the workspace builds for the guest.
# Cargo can't put a dot in a binary name: mkfs-livedfs is installed as
# mkfs.livedfs (and fsck-livedfs as fsck.livedfs), where mkfs -t finds it.
for t in "$TOOLS"/mkfs-livedfs "$TOOLS"/fsck-livedfs; do
    if [ -x "$t" ]; then cp "$t" "$root/sbin/$(basename "$t" | sed 's/-livedfs$/.livedfs/')"; fi
done
for t in livedfs posix-test difftest datatest crashtest pintest stress fsops xattrtest; do
    if [ -x "$TOOLS/$t" ]; then cp "$TOOLS/$t" "$root/sbin/"; fi
done
cp "$LIVEDFS_ROOT"/tests/guest/*.sh "$root/tests/"
# The docs, so that 86-docs.sh can run every command they show.
mkdir -p "$root/doc"
cp "$LIVEDFS_ROOT"/Documentation/*.md "$root/doc/"
cp "$LIVEDFS_ROOT/tests/guest/init" "$root/init"
chmod +x "$root/init"
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) > "$OUT"
