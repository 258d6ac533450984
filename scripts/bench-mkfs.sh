#!/usr/bin/env bash
# Benchmark: mkfs.livedfs against mkfs.ext4 -t ext3 on a 1 TiB sparse file.
#
# Builds mkfs.livedfs (release), then runs both tools RUNS times each,
# alternating, each on a fresh sparse file in one temporary directory (so
# both write to the same host file system), and prints the median wall
# time of each and the ratio livedfs/ext3. Exits 1 when the ratio is above
# 1.0: the goal is that formatting 1 TiB is no slower than mke2fs for ext3.
#
# Usage: scripts/bench-mkfs.sh [--runs N] [--size SIZE] [--dir DIR] [--no-build]
#   --runs N     runs per tool (default 5)
#   --size SIZE  image size as truncate(1) takes it (default 1T)
#   --dir DIR    where to put the images (default: a new directory under
#                ${TMPDIR:-/tmp}, removed at the end)
#   --no-build   use the mkfs.livedfs already built
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -r "$ROOT/scripts/lib.sh" ]; then
    # shellcheck source=scripts/lib.sh
    . "$ROOT/scripts/lib.sh"
else
    log() { printf '==> %s\n' "$*" >&2; }
    die() { printf 'error: %s\n' "$*" >&2; exit 1; }
fi

RUNS=5
SIZE=1T
DIR=
BUILD=1
while [ $# -gt 0 ]; do
    case $1 in
        --runs) RUNS=${2:?--runs needs a number}; shift 2 ;;
        --size) SIZE=${2:?--size needs a size}; shift 2 ;;
        --dir) DIR=${2:?--dir needs a directory}; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (try --help)" ;;
    esac
done
case $RUNS in ''|*[!0-9]*|0) die "--runs takes a positive whole number, not '$RUNS'" ;; esac

command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 is not installed (apt-get install e2fsprogs)"
command -v cargo >/dev/null || die "cargo is not in PATH; install Rust or run scripts/setup.sh"

TARGET=${CARGO_TARGET_DIR:-$ROOT/userspace/target}
MKFS=$TARGET/release/mkfs-livedfs
if [ "$BUILD" = 1 ]; then
    log "building mkfs.livedfs (release)"
    (cd "$ROOT/userspace" && cargo build --release -q -p livedfs-mkfs) \
        || die "cargo build failed; see the errors above"
fi
[ -x "$MKFS" ] || die "$MKFS not found; run without --no-build"

if [ -z "$DIR" ]; then
    DIR=$(mktemp -d "${TMPDIR:-/tmp}/bench-mkfs.XXXXXX")
    trap 'rm -rf "$DIR"' EXIT
else
    mkdir -p "$DIR"
    trap 'rm -f "$DIR/bench.img"' EXIT
fi
IMG=$DIR/bench.img

now() { date +%s.%N; }

# time_one TOOL...: seconds taken by TOOL on a fresh sparse $IMG.
time_one() {
    rm -f "$IMG"
    truncate -s "$SIZE" "$IMG" || die "cannot create a $SIZE sparse file in $DIR"
    local t0 t1
    t0=$(now)
    "$@" "$IMG" >/dev/null || die "'$*' failed"
    t1=$(now)
    rm -f "$IMG"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { m = int((NR + 1) / 2); if (NR % 2) print v[m]; else printf "%.4f\n", (v[m] + v[m + 1]) / 2 }'; }

log "$RUNS runs each on a $SIZE sparse file in $DIR ($(df -T "$DIR" | awk 'NR==2 { print $2 }'))"
L=() E=()
for i in $(seq 1 "$RUNS"); do
    L+=("$(time_one "$MKFS" -F -q)")
    E+=("$(time_one mkfs.ext4 -t ext3 -F -q)")
    printf 'run %d: mkfs.livedfs %ss  mkfs.ext4 -t ext3 %ss\n' "$i" "${L[-1]}" "${E[-1]}"
done
ML=$(printf '%s\n' "${L[@]}" | median)
ME=$(printf '%s\n' "${E[@]}" | median)
RATIO=$(awk -v a="$ML" -v b="$ME" 'BEGIN { printf "%.3f\n", (b > 0) ? a / b : 0 }')
printf 'median: mkfs.livedfs %ss, mkfs.ext4 -t ext3 %ss, ratio livedfs/ext3 %s\n' "$ML" "$ME" "$RATIO"
if awk -v r="$RATIO" 'BEGIN { exit !(r > 1.0) }'; then
    die "mkfs.livedfs is slower than mkfs.ext4 -t ext3 (ratio $RATIO > 1.0)"
fi
log "ok: mkfs.livedfs is no slower than mkfs.ext4 -t ext3"
