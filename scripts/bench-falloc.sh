#!/usr/bin/env bash
# Preallocation benchmark: fallocate a SIZE-byte image file on livedfs and
# on ext4 in the same VM, then FIEMAP it, SEEK_DATA in it, fallocate it
# again and delete it; prints each step's seconds and livedfs/ext4 ratios.
#
#   scripts/bench-falloc.sh [SIZE_BYTES]     (default 4 GiB)
source "$(dirname "$0")/lib.sh"
size=${1:-4294967296}
disk_gib=$(( size / 1073741824 + 2 ))
work=$LIVEDFS_ROOT/build/bench-falloc
mkdir -p "$work"
rm -f "$work/ext4.img"
truncate -s "${disk_gib}G" "$work/ext4.img"
mkfs.ext4 -q -F "$work/ext4.img"
"$LIVEDFS_ROOT/scripts/vm.sh" --timeout 1800 --disk "vol:${disk_gib}G" --image "ext:$work/ext4.img" \
    --log "$work/vm.log" bench-falloc.sh "$size"
grep -E '^(LIVEDFS-FALLOC|ratio|FAIL)' "$work/vm.log"
rm -f "$work/ext4.img"
