#!/usr/bin/env bash
# Mount time against data stored, up to sizes no test could write in the
# emulated guest: for each size, a fresh sparse volume gets a file of that
# many data blocks whose fingerprints fill the stores (`livedfs debug
# craft VOL stored-file`: synthetic fingerprints, data never written; the
# volume is consistent for fsck -f), then tests/guest/eval-mount-scale.sh
# times the filter build from the stores, the unmount that saves the
# filter, one sequential read of as many blocks as the saved filter, and
# the mount that loads it. Prints one line per size and the ratio of the
# loading mount to the read (issue 18's goal: at most 2x).
#
#   scripts/bench-mount-scale.sh [--sizes "1G 16G 64G 256G"] [--volume 1T]
#                                [--mem MIB] [--throttle-opts K=V,...]
#                                [--out DIR]
#
# --sizes: data stored per run (binary suffixes, 4 KiB blocks);
# --volume: the sparse volume each is made in (mkfs default options);
# --throttle-opts: QEMU throttling of the volume's disk (as vm.sh's, e.g.
#   a device profile's caps from an evaluate run's profile.json), so the
#   disk, not the emulated CPU, is the bottleneck.
source "$(dirname "$0")/lib.sh"
sizes="1G 16G 64G 256G" volume=1T mem=2048 out="" throttle=""
while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) sizes=$2; shift 2 ;;
        --volume) volume=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        --throttle-opts) throttle=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,/^source/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
cd "$LIVEDFS_ROOT"
T="$LIVEDFS_ROOT/userspace/target/release"
[ -x "$T/livedfs" ] && [ -x "$T/mkfs-livedfs" ] || die "build the tools first (make)"
out=${out:-$LIVEDFS_ROOT/build/bench-mount-scale}
mkdir -p "$out"
work=$(mktemp -d -p "$out")
trap 'rm -rf "$work"' EXIT
: > "$out/records.txt"
printf "%-8s %10s %10s %10s %10s %10s %10s %8s\n" stored build_s umount_s saved_MiB read_s mount_s load_s mount/read
for s in $sizes; do
    n=$(( $(numfmt --from=iec "$s") / 4096 ))
    img="$work/vol.img"
    rm -f "$img" && truncate -s "$volume" "$img"
    "$T/mkfs-livedfs" -q -F "$img"
    "$T/livedfs" debug craft "$img" stored-file --count "$n" > "$work/craft.log" || { cat "$work/craft.log"; die "craft failed"; }
    t0=$(date +%s.%N)
    "$T/fsck-livedfs" -fn "$img" > "$work/fsck.log" 2>&1 || { cat "$work/fsck.log"; die "fsck -fn found problems in the crafted volume"; }
    fsck_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    scripts/vm.sh --timeout 3600 --mem "$mem" --image "vol:$img" ${throttle:+--throttle-opts "vol:$throttle"} --log "$out/vm-$s.log" \
        eval-mount-scale.sh "$n" > "$work/vm.out" 2>&1 || { tail -n 20 "$work/vm.out"; die "the guest's checks failed at $s (log $out/vm-$s.log)"; }
    grep -a '^LIVEDFS-EVAL' "$out/vm-$s.log" | tr -d '\r' | sed "s/\$/ size=$s fsck_host_s=$fsck_s throttle=${throttle:-none}/" >> "$out/records.txt"
    b=$(grep -a 'phase=scale-build' "$out/vm-$s.log" | tr -d '\r' | tail -n 1)
    l=$(grep -a 'phase=scale-load' "$out/vm-$s.log" | tr -d '\r' | tail -n 1)
    get() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
    printf "%-8s %10.2f %10.2f %10.1f %10.3f %10.3f %10.3f %8.2f\n" "$s" "$(get "$b" ready_s)" "$(get "$l" umount_s)" \
        "$(awk -v n="$(get "$l" saved_blocks)" 'BEGIN { print n * 4096 / 1048576 }')" "$(get "$l" read_s)" \
        "$(get "$l" mount_s)" "$(awk -v n="$(get "$l" load_ns)" 'BEGIN { print n / 1e9 }')" \
        "$(awk -v m="$(get "$l" mount_s)" -v r="$(get "$l" read_s)" 'BEGIN { if (r > 0) print m / r; else print 0 }')"
    rm -f "$img"
done
echo "records: $out/records.txt"
