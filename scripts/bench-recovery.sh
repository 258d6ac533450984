#!/usr/bin/env bash
# Recovery after a power cut in the middle of writing a large file:
# livedfs next to ext4 in ext3 mode (data=ordered), same virtual disk,
# same workload, same VM. Prints the mount (journal replay) times and
# their ratio, and checks each volume mounts consistent.
#
#   scripts/bench-recovery.sh [--seconds N] [--size 8G]
source "$(dirname "$0")/lib.sh"
secs=20 size=8G
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) secs=$2; shift 2 ;;
        --size) size=$2; shift 2 ;;
        -h|--help) sed -n '2,/^source/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1" ;;
    esac
done
cd "$LIVEDFS_ROOT"
KDIR=$("$LIVEDFS_ROOT/scripts/build-kernel.sh" base)
work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
declare -A ms bytes
for fs in livedfs ext3; do
    img="$work/$fs.img"
    truncate -s "$size" "$img"
    case $fs in
        livedfs) "$LIVEDFS_ROOT/userspace/target/release/mkfs-livedfs" -q -F "$img" ;;
        ext3) mkfs.ext4 -q -F -t ext3 "$img" ;;
    esac
    scripts/vm.sh --kdir "$KDIR" --timeout 600 --image "vol:$img" --log "$work/$fs-write.log" \
        bench-powercut-write.sh "$fs" "$secs" > /dev/null 2>&1 || true
    grep -q 'cutting the power' "$work/$fs-write.log" || die "$fs: the write phase did not run (see $work/$fs-write.log)"
    out=$(scripts/vm.sh --kdir "$KDIR" --timeout 600 --image "vol:$img" --log "$work/$fs-mount.log" \
        bench-powercut-mount.sh "$fs" 2>&1 | tail -n 1) || true
    grep -q '^FAIL' "$work/$fs-mount.log" && { grep '^FAIL' "$work/$fs-mount.log"; die "$fs: recovery check failed"; }
    # The offline checkers, on the host, after the kernel's recovery.
    case $fs in
        livedfs)
            fsck="$LIVEDFS_ROOT/userspace/target/release/fsck-livedfs"
            if [ -x "$fsck" ]; then "$fsck" -fn "$img" > "$work/fsck.log" 2>&1 || { cat "$work/fsck.log"; die "fsck.livedfs found problems"; }
            else echo "($fs: fsck.livedfs not built: offline check skipped)"; fi ;;
        ext3) e2fsck -fn "$img" > "$work/fsck.log" 2>&1 || { cat "$work/fsck.log"; die "e2fsck found problems"; } ;;
    esac
    ms[$fs]=$(sed -n 's/^LIVEDFS-BENCH recovery_ms=//p' "$work/$fs-mount.log" | tr -d '\r')
    bytes[$fs]=$(sed -n 's/^LIVEDFS-BENCH written_bytes=//p' "$work/$fs-write.log" | tr -d '\r')
    echo "$fs: wrote ${bytes[$fs]} bytes before the cut; mount with recovery took ${ms[$fs]} ms; $out"
done
ratio=$(awk -v a="${ms[livedfs]}" -v b="${ms[ext3]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
echo "recovery time livedfs / ext4 (ext3 mode): $ratio"
