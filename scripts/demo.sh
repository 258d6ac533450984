#!/usr/bin/env bash
# Show livedfs at work on a fresh machine: install what is missing, build
# the kernel (cached), the module and the tools, boot the test VM, make a
# livedfs volume, mount it, look around, unmount.
#
#   scripts/demo.sh
source "$(dirname "$0")/lib.sh"
cd "$LIVEDFS_ROOT"
"$LIVEDFS_ROOT/scripts/setup.sh"
KDIR=$("$LIVEDFS_ROOT/scripts/build-kernel.sh" base)
log "building livedfs.ko and the tools"
make -s module KDIR="$KDIR"
(cd userspace && RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --quiet --target x86_64-unknown-linux-gnu)
log "booting the test VM (QEMU) with a 4 GiB disk"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$LIVEDFS_ROOT/scripts/vm.sh" --kdir "$KDIR" --loglevel 4 --disk images:2G \
    --log "$out" demo.sh > /dev/null 2>&1 || true
# The guest's own output, without the boot messages.
sed -n '/^LIVEDFS-GUEST-BOOTED/,/^LIVEDFS-RESULT/p' "$out" | tr -d '\r' \
    | grep -vE '^LIVEDFS-(GUEST-BOOTED|RESULT)|^\[ *[0-9.]+\]'
grep -q '^LIVEDFS-RESULT pass=[0-9]* fail=0' "$out" || die "the demo failed; full log above"
