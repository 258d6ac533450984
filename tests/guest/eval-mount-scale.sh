# Mount time against data stored, at sizes no test writes (run by
# scripts/bench-mount-scale.sh on a volume made there with `livedfs debug
# craft VOL stored-file --count N`: N data blocks in the fingerprint
# stores). Drops the guest's caches before every timed step, then:
#   1. mount: the filter is built from the stores (in the background
#      once more blocks are stored than filter_sync_blocks); the time
#      until filter_ready reads 1, and the kernel's filter_build_ns
#   2. umount: the filter is saved (its blocks and the time it took)
#   3. one sequential read of the saved filter's blocks (its header,
#      then each run of `livedfs info`): what "reading the saved filter"
#      costs
#   4. mount again: the filter is loaded from the saved copy (the mount's
#      wall time, the kernel's filter_build_ns for the load)
. /tests/eval-lib.sh
N=$1
VOL=$(disk vol)
S=/sys/fs/livedfs/${VOL#/dev/}
M=/mnt/eval
mkdir -p $M
drop_caches
t0=$(now)
check "mount (a build from the stores)" mount -t livedfs "$VOL" $M
tm=$(since "$t0")
while [ "$(cat $S/filter_ready)" != 1 ]; do sleep 0.1; done
tr=$(since "$t0")
rec phase=scale-build blocks="$N" mount_s="$tm" ready_s="$tr" build_ns="$(cat $S/filter_build_ns)" \
    loaded="$(cat $S/filter_loaded)" entries="$(cat $S/filter_entries)" bytes="$(cat $S/filter_bytes)"
t0=$(now)
check "umount (saves the filter)" umount $M
tu=$(since "$t0")
# "Saved filter: present: header block START, N blocks of free space: ...
# data in R run(s): blocks A..B, C..D; loaded at the next mount"
line=$(livedfs info "$VOL" | grep 'Saved filter')
set -- $(echo "$line" | sed -n 's/.*header block \([0-9]*\), \([0-9]*\) blocks.*/\1 \2/p')
start=${1:-0} nblk=${2:-0}
check "a filter was saved" test "$nblk" -gt 0
runs=$(echo "$line" | sed -n 's/.*run(s): blocks \([0-9., ]*\);.*/\1/p' | tr -d ' ' | tr ',' ' ')
# Its blocks as the mount reads them: the header, then each run in turn
# (a filter larger than one group's free space spans several runs, so
# one read from the header would read other blocks, or stop at the end
# of the device).
read_saved() {
    dd if="$VOL" of=/dev/null bs=4096 skip="$start" count=1 2>/dev/null || return 1
    for r in $runs; do
        a=${r%..*} b=${r#*..}
        dd if="$VOL" of=/dev/null bs=4096 skip="$a" count=$((b - a + 1)) 2>/dev/null || return 1
    done
}
read_blocks=1
for r in $runs; do read_blocks=$((read_blocks + ${r#*..} - ${r%..*} + 1)); done
check_eq "the runs and the header are the saved filter's blocks" "$nblk" "$read_blocks"
drop_caches
t0=$(now)
check "read the saved filter's blocks (header, then each run)" read_saved
trd=$(since "$t0")
drop_caches
t0=$(now)
check "mount (the saved filter loaded)" mount -t livedfs "$VOL" $M
tl=$(since "$t0")
check_eq "the filter came from the saved copy" 1 "$(cat $S/filter_loaded)"
check_eq "with every stored block" "$N" "$(cat $S/filter_entries)"
rec phase=scale-load blocks="$N" mount_s="$tl" load_ns="$(cat $S/filter_build_ns)" umount_s="$tu" \
    saved_blocks="$nblk" saved_runs="$(echo $runs | wc -w)" read_s="$trd" entries="$(cat $S/filter_entries)" bytes="$(cat $S/filter_bytes)"
check "umount" umount $M
